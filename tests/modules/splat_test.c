// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module proving that the VM runner's splat scan works: loaded
 * with warn=1 it triggers a WARN_ON(), which the runner must report as a
 * failed run.  With warn=0 it does nothing.
 */
#include <linux/bug.h>
#include <linux/module.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "trigger a WARN_ON() at load time");

static int __init splat_test_init(void)
{
	WARN_ON(warn);
	return 0;
}

static void __exit splat_test_exit(void)
{
}

module_init(splat_test_init);
module_exit(splat_test_exit);
MODULE_DESCRIPTION("imp2 test helper: WARN_ON on demand");
MODULE_LICENSE("GPL");
