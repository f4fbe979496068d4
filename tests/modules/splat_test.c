// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module proving that the VM runner's splat scan works: loaded
 * with warn=1 it triggers a WARN_ON(); loaded with hung_task=1 it prints a
 * report in the exact format of the hung-task detector's (kernel/hung_task.c),
 * a splat without a "Call Trace:" or a taint.  The runner must report
 * either as a failed run.  With neither it does nothing.
 */
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/printk.h>
#include <linux/sched.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "trigger a WARN_ON() at load time");

static bool hung_task;
module_param(hung_task, bool, 0444);
MODULE_PARM_DESC(hung_task, "print a hung-task report (only its text) at load time");

static int __init splat_test_init(void)
{
	WARN_ON(warn);
	if (hung_task) {
		pr_info("splat_test: hung_task=1: the next lines imitate a hung-task report\n");
		pr_err("INFO: task %s:%d blocked for more than %ld seconds.\n",
		       current->comm, task_pid_nr(current), 122L);
		pr_err("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\""
		       " disables this message.\n");
	}
	return 0;
}

static void __exit splat_test_exit(void)
{
}

module_init(splat_test_init);
module_exit(splat_test_exit);
MODULE_DESCRIPTION("imp2 test helper: WARN_ON and a hung-task report on demand");
MODULE_LICENSE("GPL");
