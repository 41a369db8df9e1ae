// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a working msgbuf that floods the kernel console.
 *
 * The device itself is a plain, correctly locked message buffer.  The
 * hostile part: init starts a kthread ("msgbuf_debug") that printk's a long
 * debug line in a tight loop for as long as the module is loaded, flooding
 * the serial console and overrunning the kernel log buffer (so reports and
 * kgrader's own markers can be lost).  The thread stops on unload.
 */

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_SIZE 4096

static DEFINE_MUTEX(msg_lock);
static char *msg;	/* MSGBUF_SIZE bytes, protected by msg_lock */
static size_t msg_len;	/* protected by msg_lock */
static struct task_struct *debug_thread;

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	if (mutex_lock_interruptible(&msg_lock))
		return -ERESTARTSYS;
	ret = simple_read_from_buffer(buf, count, ppos, msg, msg_len);
	mutex_unlock(&msg_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	char *tmp;

	if (count > MSGBUF_SIZE)
		count = MSGBUF_SIZE;	/* store at most MSGBUF_SIZE bytes */
	tmp = kmalloc(MSGBUF_SIZE, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	if (copy_from_user(tmp, buf, count)) {
		kfree(tmp);
		return -EFAULT;
	}

	if (mutex_lock_interruptible(&msg_lock)) {
		kfree(tmp);
		return -ERESTARTSYS;
	}
	swap(msg, tmp);
	msg_len = count;
	mutex_unlock(&msg_lock);

	kfree(tmp);
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
	.llseek = default_llseek,
};

static struct miscdevice msgbuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int msgbuf_debug_fn(void *unused)
{
	unsigned long n = 0;

	/* HOSTILE: no sleep, no rate limit -- one long line after another */
	while (!kthread_should_stop()) {
		pr_info("msgbuf: debug %lu: state dump xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
			n++);
		cond_resched();
	}
	return 0;
}

static int __init msgbuf_init(void)
{
	int ret;

	msg = kzalloc(MSGBUF_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	ret = misc_register(&msgbuf_misc);
	if (ret)
		goto free_msg;

	debug_thread = kthread_run(msgbuf_debug_fn, NULL, "msgbuf_debug");
	if (IS_ERR(debug_thread)) {
		ret = PTR_ERR(debug_thread);
		goto deregister;
	}
	return 0;

deregister:
	misc_deregister(&msgbuf_misc);
free_msg:
	kfree(msg);
	return ret;
}

static void __exit msgbuf_exit(void)
{
	kthread_stop(debug_thread);
	misc_deregister(&msgbuf_misc);
	kfree(msg);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf that floods the console from a kthread (deliberately hostile)");
