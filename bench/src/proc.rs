//! What a process (and every process it started) costs, read from Linux's `/proc`: CPU time
//! from `/proc/<pid>/stat` (utime + stime, and the same of reaped children), peak resident
//! memory from `VmHWM` in `/proc/<pid>/status`.

use std::{collections::HashMap, time::Duration};

/// The fields of `/proc/<pid>/stat` the bench uses, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
}

/// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let after_name = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state (3), ppid (4), …, utime (14), stime (15), cutime (16), cstime (17).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// The peak resident set size (`VmHWM`) of a `/proc/<pid>/status` text, in KiB.
pub(crate) fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time and peak memory of a process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// User + system time of the root and every live descendant, and of the children they reaped.
    pub cpu: Duration,
    /// The sum of each live process's own peak RSS (for a single process: its peak).
    pub peak_rss_kib: u64,
}

/// Clock ticks per second of `/proc`'s times (USER_HZ).
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = ticks_per_second();
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The process `root` and all of its live descendants (from every process's parent id).
pub(crate) fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for pid in entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
            if let Some(stat) = read_stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        found.extend(children.get(&found[next]).into_iter().flatten());
        next += 1;
    }
    found
}

/// CPU time and peak memory of `root` and everything it started that is still running.
pub(crate) fn usage(root: u32) -> Usage {
    let mut ticks = 0;
    let mut peak_rss_kib = 0;
    for pid in tree(root) {
        if let Some(stat) = read_stat(pid) {
            ticks += stat.utime + stat.stime + stat.cutime + stat.cstime;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        peak_rss_kib += parse_vm_hwm_kib(&status).unwrap_or(0);
    }
    Usage { cpu: ticks_to_duration(ticks), peak_rss_kib }
}

/// This process's own CPU time (the load generator's cost).
pub(crate) fn own_cpu() -> Duration {
    let stat = read_stat(std::process::id());
    ticks_to_duration(stat.map_or(0, |s| s.utime + s.stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (tokio (worker) 1) S 17 4242 17 0 -1 4194560 3074 0 0 0 \
                    1234 567 89 10 20 0 9 0 123456 987654321 2345 18446744073709551615";
        let stat = parse_stat(line).expect("a stat line");
        assert_eq!(stat, Stat { ppid: 17, utime: 1234, stime: 567, cutime: 89, cstime: 10 });
    }

    #[test]
    fn refuses_a_truncated_stat_line() {
        assert_eq!(parse_stat("4242 (x) S 17 4242"), None);
        assert_eq!(parse_stat("no parentheses at all"), None);
    }

    #[test]
    fn reads_the_peak_resident_set_from_status() {
        let status = "Name:\ttokenmeter\nVmPeak:\t  812344 kB\nVmHWM:\t   41236 kB\nVmRSS:\t   40012 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(41_236));
        assert_eq!(parse_vm_hwm_kib("Name:\tkthreadd\n"), None, "kernel threads have no VmHWM");
    }

    #[test]
    fn this_process_is_its_own_tree_and_has_a_peak() {
        let me = std::process::id();
        assert_eq!(tree(me).first(), Some(&me));
        let usage = usage(me);
        assert!(usage.peak_rss_kib > 0, "{usage:?}");
    }

    #[test]
    fn a_child_process_is_part_of_the_tree() {
        let mut child =
            std::process::Command::new("cat").stdin(std::process::Stdio::piped()).spawn().expect("cat runs");
        let found = tree(std::process::id());
        drop(child.stdin.take());
        child.wait().expect("cat ends");
        assert!(found.contains(&child.id()), "{found:?} lacks {}", child.id());
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = own_cpu();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        // Busy until a clock tick of CPU is counted (10 ms on Linux), for 5 s at most.
        while own_cpu() == before && started.elapsed() < Duration::from_secs(5) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        assert!(own_cpu() > before, "no CPU time counted for 5 s of work");
    }
}
