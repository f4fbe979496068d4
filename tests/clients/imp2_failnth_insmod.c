// SPDX-License-Identifier: GPL-2.0
/*
 * Walk the fault-injection sites of loading a module: load it with the N-th
 * fault site of this task failing (/proc/thread-self/fail-nth), for
 * N = FIRST, FIRST+1, ... until a load runs with no fault injected (every
 * site walked) or N reaches LAST.  Whatever loaded is unloaded again
 * (delete_module, like rmmod) before the next step.  All in one process,
 * so a step costs one load (and unload), not a fork and three execs.
 *
 *   imp2_failnth_insmod FIRST LAST MODULE.ko [PARAMS]
 *
 * Prints one line per step:
 *   "n=N rc=R errno=E injected=yes|no unloaded=yes|no|errno=E"
 * (unloaded=no: the module was not loaded afterwards; errno=E: it was, and
 * removing it failed).  Exit: 0 once a step injected nothing and loaded
 * (the walk is complete), 1 if LAST was reached first, 2 on a setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The module's name: the file's basename without ".ko", '-' as '_'. */
static void module_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	char *p;

	snprintf(name, size, "%s", base ? base + 1 : path);
	p = strstr(name, ".ko");
	if (p)
		*p = 0;
	for (p = name; *p; p++)
		if (*p == '-')
			*p = '_';
}

int main(int argc, char **argv)
{
	const char *params = argc > 4 ? argv[4] : "";
	char buf[32], name[64], unloaded[32];
	int first, last, mod, nth, n, rc, err, injected;
	ssize_t len;

	if (argc < 4) {
		fprintf(stderr, "usage: imp2_failnth_insmod FIRST LAST MODULE.ko [PARAMS]\n");
		return 2;
	}
	first = atoi(argv[1]);
	last = atoi(argv[2]);
	module_name(argv[3], name, sizeof(name));
	mod = open(argv[3], O_RDONLY | O_CLOEXEC);
	nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (mod < 0 || nth < 0) {
		fprintf(stderr, "imp2_failnth_insmod: open: %s\n", strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (n = first; n <= last; n++) {
		len = snprintf(buf, sizeof(buf), "%d", n);
		if (write(nth, buf, len) != len) {
			fprintf(stderr, "imp2_failnth_insmod: fail-nth: %s\n", strerror(errno));
			return 2;
		}
		rc = syscall(SYS_finit_module, mod, params, 0);
		err = rc ? errno : 0;
		/* Reads back 0 once the fault was injected, the remaining count otherwise. */
		len = pread(nth, buf, sizeof(buf) - 1, 0);
		buf[len > 0 ? len : 0] = 0;
		injected = atoi(buf) == 0;
		if (write(nth, "0", 1) != 1) { /* disarm */ }
		/* Loaded (even after a failure that should have stopped it): remove it. */
		if (syscall(SYS_delete_module, name, O_NONBLOCK) == 0)
			snprintf(unloaded, sizeof(unloaded), "yes");
		else if (errno == ENOENT)
			snprintf(unloaded, sizeof(unloaded), "no");
		else
			snprintf(unloaded, sizeof(unloaded), "errno=%d", errno);
		printf("n=%d rc=%d errno=%d injected=%s unloaded=%s\n",
		       n, rc, err, injected ? "yes" : "no", unloaded);
		if (!injected && rc == 0)
			return 0;
	}
	return 1;
}
