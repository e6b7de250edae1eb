// SPDX-License-Identifier: GPL-2.0

//! A KUnit suite with one passing and one deliberately failing case, for `make selftest`.

use kernel::prelude::*;

module! {
    type: HarnessSelftest,
    name: "pcpu_array_harness_selftest",
    authors: ["pcpu_array developers"],
    description: "Deliberately failing KUnit suite that checks the pcpu_array test harness",
    license: "GPL",
}

struct HarnessSelftest;

impl kernel::Module for HarnessSelftest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self)
    }
}

#[kunit_tests(pcpu_array_harness_selftest)]
mod tests {
    #[test]
    fn passes() {
        assert_eq!(2 + 2, 4);
    }

    #[test]
    fn fails_on_purpose() {
        assert_eq!(2 + 2, 5);
    }
}
