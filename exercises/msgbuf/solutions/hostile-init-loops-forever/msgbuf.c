// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a submission whose init never returns.
 *
 * BUG (deliberate): msgbuf_init() busy-waits for 'msgbuf_ready', a flag
 * that only msgbuf_open() would set -- and nothing can open the device
 * before init has returned.  finit_module() spins forever (task state R,
 * not D: the hung-task detector stays quiet; the kernel is preemptible, so
 * the soft-lockup detector and RCU stay quiet too, and the VM keeps running
 * with one CPU burnt).  The harness's load test hits its timeout.
 */

#include <linux/compiler.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <asm/processor.h>

static int msgbuf_ready; /* set by the first open */

static int msgbuf_open(struct inode *inode, struct file *file)
{
	WRITE_ONCE(msgbuf_ready, 1);
	return 0;
}

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	return 0;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.open = msgbuf_open,
	.read = msgbuf_read,
	.write = msgbuf_write,
};

static struct miscdevice msgbuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int __init msgbuf_init(void)
{
	pr_info("msgbuf: waiting for the device to become ready...\n");

	/* BUG: nobody can open the device before we return, so this never ends */
	while (!READ_ONCE(msgbuf_ready))
		cpu_relax();

	return misc_register(&msgbuf_misc);
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_misc);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf whose init busy-waits forever (deliberately broken)");
