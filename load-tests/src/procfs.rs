//! What the kernel says about the gateway's process: its resident memory (`/proc/<pid>/status`
//! `VmRSS`, and the peak `VmHWM`) and the CPU time it used (`/proc/<pid>/stat` `utime` + `stime`);
//! and, to see where a round's time went on a shared machine, the CPU time of every process of
//! one command (PostgreSQL's backends) and how busy the whole machine was (`/proc/stat`).
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

/// The command name of a `/proc/<pid>/stat` line (field 2, without its parentheses).
pub fn parse_command(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// Busy and total clock ticks of all CPUs, from the first line of `/proc/stat`
/// (`cpu user nice system idle iowait irq softirq steal …`): idle and iowait are not busy.
pub fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // guest and guest_nice (9th and 10th) are already counted in user and nice.
    let counted = &ticks[..ticks.len().min(8)];
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    let total: u64 = counted.iter().sum();
    Some(MachineTicks {
        busy: total - idle,
        total,
    })
}

/// Clock ticks of all the machine's CPUs since boot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineTicks {
    pub busy: u64,
    pub total: u64,
}

impl MachineTicks {
    /// Percent of the CPUs' time that was busy between `earlier` and `self`.
    pub fn busy_pct_since(&self, earlier: &MachineTicks) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 * 100.0 / total as f64)
    }
}

/// The machine's ticks now, if they can be read.
pub fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// CPU seconds so far of every live process whose command is `command` (e.g. `postgres`: the
/// server and its backends, which keep their command name whatever their title says). A process
/// that exits between two readings takes its time with it, so compare readings of long-lived
/// processes (pooled connections).
pub fn command_cpu_secs(command: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| parse_command(stat) == Some(command))
        .filter_map(|stat| parse_cpu_secs(&stat))
        .sum()
}

/// Where the machine's CPU time went: a reading of the gateway's process, PostgreSQL's
/// processes, this load generator and the whole machine, taken before and after a round.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    gateway: Option<f64>,
    postgres: f64,
    load_generator: Option<f64>,
    machine: Option<MachineTicks>,
}

/// CPU seconds used during a round, by whom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RoundCpu {
    /// The gateway's process (when its pid is known).
    pub gateway_secs: Option<f64>,
    /// PostgreSQL's server and backends (0 when the store is SQLite and nothing else runs).
    pub postgres_secs: f64,
    /// This process: the client, and in baseline rounds the baseline server too.
    pub load_generator_secs: Option<f64>,
    /// How busy the machine's CPUs were, in percent of all of them.
    pub machine_busy_pct: Option<f64>,
}

impl CpuReading {
    pub fn now(gateway_pid: Option<u32>) -> CpuReading {
        CpuReading {
            gateway: gateway_pid.and_then(cpu_secs),
            postgres: command_cpu_secs("postgres"),
            load_generator: cpu_secs(std::process::id()),
            machine: machine_ticks(),
        }
    }

    /// What was used between `earlier` and this reading.
    pub fn since(&self, earlier: &CpuReading) -> RoundCpu {
        let delta = |now: Option<f64>, then: Option<f64>| Some(now? - then?);
        RoundCpu {
            gateway_secs: delta(self.gateway, earlier.gateway),
            postgres_secs: (self.postgres - earlier.postgres).max(0.0),
            load_generator_secs: delta(self.load_generator, earlier.load_generator),
            machine_busy_pct: self
                .machine
                .zip(earlier.machine)
                .and_then(|(now, then)| now.busy_pct_since(&then)),
        }
    }
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
    fn the_command_is_between_the_first_and_last_parenthesis() {
        assert_eq!(parse_command("77 (postgres) S 1 2"), Some("postgres"));
        assert_eq!(parse_command("77 (a (b) c) S 1"), Some("a (b) c"));
        assert_eq!(parse_command("garbage"), None);
    }

    #[test]
    fn the_machine_is_busy_for_all_but_idle_and_iowait() {
        let before = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        let after = "cpu  250 0 100 1000 100 0 0 0 30 0\n";
        let (a, b) = (
            parse_machine_ticks(before).unwrap(),
            parse_machine_ticks(after).unwrap(),
        );
        assert_eq!(
            a,
            MachineTicks {
                busy: 150,
                total: 1000
            }
        );
        // Guest time (30) is inside user already: not counted twice.
        assert_eq!(
            b,
            MachineTicks {
                busy: 350,
                total: 1450
            }
        );
        assert_eq!(b.busy_pct_since(&a), Some(200.0 * 100.0 / 450.0));
        assert_eq!(a.busy_pct_since(&b), None);
        assert_eq!(parse_machine_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let me = std::process::id();
        let memory = memory(me).expect("own status");
        assert!(memory.rss_mib > 0.0 && memory.peak_rss_mib >= memory.rss_mib);
        assert!(cpu_secs(me).is_some());
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let command = parse_command(&stat).unwrap().to_owned();
        let mine = cpu_secs(me).unwrap();
        assert!(command_cpu_secs(&command) >= mine);
        assert!(machine_ticks().is_some());
    }
}
