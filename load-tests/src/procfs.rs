//! What the kernel says about the gateway's process: its resident memory (`/proc/<pid>/status`
//! `VmRSS`, and the peak `VmHWM`) and the CPU time it used (`/proc/<pid>/stat` `utime` + `stime`).
//! The parsing is pure and unit-tested; reading is a plain file read (Linux only).

use serde::Serialize;

/// Linux reports `utime` and `stime` in clock ticks of `USER_HZ`, which is 100 on every
/// architecture the kernel's ABI exposes to user space.
const TICKS_PER_SEC: f64 = 100.0;

/// Resident memory of a process, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Memory {
    pub rss_mib: f64,
    /// The peak resident set so far.
    pub peak_rss_mib: f64,
}

/// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let value = line[key.len()..].trim().strip_suffix("kB")?.trim();
        value.parse::<u64>().ok().map(|k| k as f64 / 1024.0)
    };
    Some(Memory {
        rss_mib: kib("VmRSS:")?,
        peak_rss_mib: kib("VmHWM:")?,
    })
}

/// User plus system CPU seconds of a `/proc/<pid>/stat` line.
pub fn parse_cpu_secs(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// The process's memory now, if it can be read.
pub fn memory(pid: u32) -> Option<Memory> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The process's CPU seconds so far, if they can be read.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    parse_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_comes_from_vmrss_and_vmhwm() {
        let status = "Name:\tgateway\nVmPeak:\t  900000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t5\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_mib: 40.0,
                peak_rss_mib: 80.0
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t12 kB\n"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn cpu_time_is_user_plus_system_ticks_even_with_spaces_in_the_name() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 5 0 100 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_secs(stat), Some(4.0));
        assert_eq!(parse_cpu_secs("4242 (gateway) S 1"), None);
        assert_eq!(parse_cpu_secs("garbage"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let me = std::process::id();
        let memory = memory(me).expect("own status");
        assert!(memory.rss_mib > 0.0 && memory.peak_rss_mib >= memory.rss_mib);
        assert!(cpu_secs(me).is_some());
    }
}
