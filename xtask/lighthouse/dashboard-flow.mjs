// Lighthouse (mobile, default config) on a signed-in view: a user flow signs in on the page,
// clears the HTTP cache (a cold load), then measures a navigation that keeps the tab's
// sessionStorage (where the app keeps the key). Usage: node dashboard-flow.mjs <base> <key> <path>
import fs from "node:fs";
import puppeteer from "puppeteer-core";
import { startFlow } from "lighthouse";

const [base, key, path] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         `--user-data-dir=${fs.mkdtempSync("/tmp/lh-profile-")}`],
});
const page = await browser.newPage();
await page.goto(`${base}/signin`);
await page.waitForSelector("#api-key");
await page.type("#api-key", key);
await page.click("[data-testid=sign-in]");
await page.waitForSelector("[data-testid=usage], [data-testid=total-users]");
const cdp = await page.createCDPSession();
await cdp.send("Network.clearBrowserCache");
const flow = await startFlow(page, { name: `tokenmeter ${path}` });
await flow.navigate(`${base}${path}`, { disableStorageReset: true });
const result = await flow.createFlowResult();
for (const step of result.steps) {
  const lhr = step.lhr;
  const a = lhr.audits;
  console.log(JSON.stringify({
    url: lhr.finalDisplayedUrl, formFactor: lhr.configSettings.formFactor,
    performance: Math.round(lhr.categories.performance.score * 100),
    fcp: a["first-contentful-paint"].displayValue, lcp: a["largest-contentful-paint"].displayValue,
    tbt: a["total-blocking-time"].displayValue, cls: a["cumulative-layout-shift"].displayValue,
    si: a["speed-index"].displayValue,
  }));
}
// The HTML report, next to this script.
fs.writeFileSync(new URL("dashboard-flow.html", import.meta.url), await flow.generateReport());
await browser.close();
