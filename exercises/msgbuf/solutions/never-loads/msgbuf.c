// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a submission whose init always fails: it looks for a (made-up)
 * "message buffer controller" that does not exist, says so, and returns
 * -ENODEV, so finit_module fails and /dev/msgbuf never appears.
 */

#include <linux/errno.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static bool msgbuf_probe_hardware(void)
{
	/* A real driver would look for its device here; there is none. */
	return false;
}

static int __init msgbuf_init(void)
{
	if (!msgbuf_probe_hardware()) {
		pr_err("msgbuf: no message buffer controller found, refusing to load (-ENODEV)\n");
		return -ENODEV;
	}
	return 0;
}

static void __exit msgbuf_exit(void)
{
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf that never loads: init returns -ENODEV");
