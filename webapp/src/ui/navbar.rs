use sycamore::prelude::*;

/// HeroUI's Navbar: brand, navigation links, and an end slot.
#[component(inline_props)]
pub fn Navbar(links: View, end: View) -> View {
    view! {
        header(class="navbar") {
            nav(class="navbar-inner", aria-label="Main") {
                a(class="navbar-brand", href="/") {
                    span(class="brand-logo", aria-hidden="true") {
                        svg(width="20", height="20", viewBox="0 0 24 24", fill="none", stroke="#fff", stroke-width="2.5", stroke-linecap="round") {
                            path(d="M6 20V12M12 20V5M18 20v-6")
                        }
                    }
                    span { "tokenmeter" small { "Token usage, live" } }
                }
                div(class="navbar-content") { (links) }
                div(class="navbar-end") { (end) }
            }
        }
    }
}

/// A navigation link, marked `aria-current="page"` while its page is shown.
#[component(inline_props)]
pub fn NavLink(
    #[prop(setter(into))] href: String,
    label: &'static str,
    #[prop(setter(into))] active: MaybeDyn<bool>,
) -> View {
    let current = move || active.get().then_some("page");
    view! { a(class="navbar-item", href=href, aria-current=current) { (label) } }
}
