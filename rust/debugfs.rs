// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/pcpu_array/<cache>/`: one file per counter, in slub's format, and a
//! `stats` file with every counter as `name value` lines.

use crate::stats::{
    Stat,
    StatsTable, //
};
use core::fmt;
use kernel::{
    debugfs::{
        Dir,
        File,
        Writer, //
    },
    prelude::*,
    sync::{
        global_lock,
        Arc, //
    },
};

global_lock! {
    // SAFETY: `init()` is called in the module's init, before any cache can be created.
    pub(crate) unsafe(uninit) static DEBUGFS_ROOT: Mutex<Option<Dir>> = None;
}

/// Creates `/sys/kernel/debug/pcpu_array/`. Called once, from the module's init.
pub(crate) fn init_root() {
    // SAFETY: Called once, from module init, before any other use of `DEBUGFS_ROOT`.
    unsafe { DEBUGFS_ROOT.init() };
    *DEBUGFS_ROOT.lock() = Some(Dir::new(c"pcpu_array"));
}

/// Removes `/sys/kernel/debug/pcpu_array/` once its last cache directory is gone. Called from
/// the module's exit.
pub(crate) fn remove_root() {
    *DEBUGFS_ROOT.lock() = None;
}

/// A counter file: the total, then the per-CPU counts.
struct StatFile {
    table: Arc<StatsTable>,
    stat: Stat,
}

impl Writer for StatFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table.write_stat(self.stat, f)
    }
}

/// The `stats` file: `name total` for each counter, plus the cache's geometry.
struct SummaryFile {
    table: Arc<StatsTable>,
    capacity: usize,
    batch: usize,
}

impl Writer for SummaryFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.table.snapshot();
        writeln!(f, "capacity {}", self.capacity)?;
        writeln!(f, "batch {}", self.batch)?;
        for &stat in Stat::ALL {
            writeln!(f, "{} {}", stat.name().to_str().unwrap_or("?"), s.get(stat))?;
        }
        writeln!(f, "in_use {}", s.in_use())
    }
}

/// A cache's debugfs directory; removed on drop.
pub(crate) struct CacheDir {
    _files: KVec<Pin<KBox<File<StatFile>>>>,
    _summary: Option<Pin<KBox<File<SummaryFile>>>>,
    _dir: Dir,
}

impl CacheDir {
    /// Creates the directory for the cache `name`. Without debugfs, or when the name is taken,
    /// the files are silently absent, as for every debugfs user.
    pub(crate) fn new(
        name: &CStr,
        table: &Arc<StatsTable>,
        capacity: usize,
        batch: usize,
    ) -> Result<Self> {
        let dir = match &*DEBUGFS_ROOT.lock() {
            Some(root) => root.subdir(name),
            None => Dir::new(name),
        };
        let mut files = KVec::with_capacity(Stat::ALL.len(), GFP_KERNEL)?;
        for &stat in Stat::ALL {
            let data = StatFile {
                table: table.clone(),
                stat,
            };
            files.push(
                KBox::pin_init(dir.read_only_file(stat.name(), data), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        let summary = SummaryFile {
            table: table.clone(),
            capacity,
            batch,
        };
        let summary = KBox::pin_init(dir.read_only_file(c"stats", summary), GFP_KERNEL)?;
        Ok(Self {
            _files: files,
            _summary: Some(summary),
            _dir: dir,
        })
    }
}
