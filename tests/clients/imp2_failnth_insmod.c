// SPDX-License-Identifier: GPL-2.0
/*
 * Load a module with the N-th fault-injection site of this task failing
 * (/proc/thread-self/fail-nth), to walk every allocation site of insmod.
 *
 *   imp2_failnth_insmod N MODULE.ko [PARAMS]
 *
 * Prints "n=N rc=R errno=E injected=yes|no".  Exit: 0 if the module
 * loaded, 1 if loading failed, 2 on a setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *params = argc > 3 ? argv[3] : "";
	char buf[32] = "";
	int n, mod, nth, rc, err;
	ssize_t len;

	if (argc < 3) {
		fprintf(stderr, "usage: imp2_failnth_insmod N MODULE.ko [PARAMS]\n");
		return 2;
	}
	n = atoi(argv[1]);
	mod = open(argv[2], O_RDONLY | O_CLOEXEC);
	nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (mod < 0 || nth < 0) {
		fprintf(stderr, "imp2_failnth_insmod: open: %s\n", strerror(errno));
		return 2;
	}
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
	if (write(nth, "0", 1) != 1) { /* disarm */ }
	printf("n=%d rc=%d errno=%d injected=%s\n", n, rc, err, atoi(buf) == 0 ? "yes" : "no");
	return rc ? 1 : 0;
}
