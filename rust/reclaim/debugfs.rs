// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/<module>/<cache>/`: one file per counter, in slub's format, a `stats`
//! file with every counter as `name value` lines, and `capacity`, the magazine capacity, which
//! a write changes.

use crate::{
    magazines::state::CacheState,
    magazines::stats::Stat, //
};
use core::fmt;
use kernel::{
    debugfs::{
        Dir,
        File,
        Reader,
        Writer, //
    },
    prelude::*,
    sync::{
        global_lock,
        Arc, //
    },
};

global_lock! {
    // SAFETY: `init()` is called by `DebugfsRoot::new`, in the module's init, before any cache
    // can be created.
    pub(crate) unsafe(uninit) static DEBUGFS_ROOT: Mutex<Option<Dir>> = None;
}

/// The module's directory, `/sys/kernel/debug/<name>/`, where each cache adds its own.
///
/// # Invariants
///
/// There is at most one `DebugfsRoot`: `DEBUGFS_ROOT` was initialised by the first.
pub(crate) struct DebugfsRoot {
    _private: (),
}

impl DebugfsRoot {
    /// Creates `/sys/kernel/debug/<name>/`. Called once, from module init, before any cache
    /// exists. Without debugfs the directory is silently absent, as for every debugfs user.
    pub(crate) fn new(name: &CStr) -> Self {
        // SAFETY: Called once, from module init, before any other use of `DEBUGFS_ROOT`.
        unsafe { DEBUGFS_ROOT.init() };
        *DEBUGFS_ROOT.lock() = Some(Dir::new(name));
        // INVARIANT: The lock was initialised just above.
        Self { _private: () }
    }
}

impl Drop for DebugfsRoot {
    fn drop(&mut self) {
        // Removed once its last cache directory is gone: the module drops the root after every
        // cache.
        *DEBUGFS_ROOT.lock() = None;
    }
}

/// A counter file: the total, then the per-CPU counts.
struct StatFile {
    state: Arc<CacheState>,
    stat: Stat,
}

impl Writer for StatFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.stats.write_stat(self.stat, f)
    }
}

/// The `stats` file: `name total` for each counter, plus the cache's geometry.
struct SummaryFile {
    state: Arc<CacheState>,
}

impl Writer for SummaryFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.stats();
        writeln!(f, "capacity {}", self.state.capacity())?;
        let (min, max) = self.state.capacity_bounds();
        writeln!(f, "capacity_min {min}")?;
        writeln!(f, "capacity_max {max}")?;
        writeln!(f, "batch {}", self.state.batch())?;
        let (full, empty) = self.state.depot_magazines();
        writeln!(f, "depot_limit {}", self.state.depot_limit())?;
        writeln!(f, "depot_full {full}")?;
        writeln!(f, "depot_empty {empty}")?;
        writeln!(f, "depot_objects {}", self.state.depot_objects())?;
        let (sealed_objects, _) = self.state.rcu_sealed_objects();
        writeln!(f, "rcu_sealed {}", self.state.rcu_sealed_magazines())?;
        writeln!(f, "rcu_sealed_objects {sealed_objects}")?;
        for &stat in Stat::ALL {
            writeln!(f, "{} {}", stat.name().to_str().unwrap_or("?"), s.get(stat))?;
        }
        writeln!(f, "in_use {}", s.in_use())
    }
}

/// The `capacity` file: the magazine capacity; writing a number from 1 to `MAX_CAPACITY`
/// changes it, and makes it the floor of the adaptation ([`CacheState::set_capacity_by_hand`]).
struct CapacityFile {
    state: Arc<CacheState>,
}

impl Writer for CapacityFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.state.capacity())
    }
}

impl Reader for CapacityFile {
    fn read_from_slice(&self, reader: &mut kernel::uaccess::UserSliceReader) -> Result {
        let mut buf = [0u8; 16];
        let len = reader.len();
        let bytes = buf.get_mut(..len).ok_or(EINVAL)?;
        reader.read_slice(bytes)?;
        let text = core::str::from_utf8(bytes).map_err(|_| EINVAL)?;
        let capacity = text.trim().parse::<usize>().map_err(|_| EINVAL)?;
        self.state.set_capacity_by_hand(capacity)
    }
}

/// A cache's debugfs directory; removed on drop.
pub(crate) struct CacheDir {
    _files: KVec<Pin<KBox<File<StatFile>>>>,
    _summary: Option<Pin<KBox<File<SummaryFile>>>>,
    _capacity: Option<Pin<KBox<File<CapacityFile>>>>,
    _dir: Dir,
}

impl CacheDir {
    /// Creates the directory for the cache `name`. Without debugfs, or when the name is taken,
    /// the files are silently absent, as for every debugfs user.
    pub(crate) fn new(name: &CStr, state: &Arc<CacheState>) -> Result<Self> {
        let dir = match &*DEBUGFS_ROOT.lock() {
            Some(root) => root.subdir(name),
            None => Dir::new(name),
        };
        let mut files = KVec::with_capacity(Stat::ALL.len(), GFP_KERNEL)?;
        for &stat in Stat::ALL {
            let data = StatFile {
                state: state.clone(),
                stat,
            };
            files.push(
                KBox::pin_init(dir.read_only_file(stat.name(), data), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        let summary = SummaryFile {
            state: state.clone(),
        };
        let summary = KBox::pin_init(dir.read_only_file(c"stats", summary), GFP_KERNEL)?;
        let capacity = CapacityFile {
            state: state.clone(),
        };
        let capacity = KBox::pin_init(dir.read_write_file(c"capacity", capacity), GFP_KERNEL)?;
        Ok(Self {
            _files: files,
            _summary: Some(summary),
            _capacity: Some(capacity),
            _dir: dir,
        })
    }
}
