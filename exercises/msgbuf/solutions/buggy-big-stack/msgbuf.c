// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf that stages each write in a 4 KiB array on the kernel stack before copying it into
 * the heap: correct behaviour, but a single frame uses a quarter of the 16 KiB kernel stack
 * the whole call chain (and interrupts) must share.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_MAX 4096

static DEFINE_MUTEX(msgbuf_lock);
static char *msgbuf_data;	/* protected by msgbuf_lock */
static size_t msgbuf_len;	/* protected by msgbuf_lock */

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	if (mutex_lock_interruptible(&msgbuf_lock))
		return -ERESTARTSYS;
	ret = simple_read_from_buffer(ubuf, count, ppos, msgbuf_data, msgbuf_len);
	mutex_unlock(&msgbuf_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	char staging[MSGBUF_MAX];
	char *new, *old;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;

	if (copy_from_user(staging, ubuf, count))
		return -EFAULT;
	new = kmemdup(staging, count, GFP_KERNEL);
	if (!new)
		return -ENOMEM;

	mutex_lock(&msgbuf_lock);
	old = msgbuf_data;
	msgbuf_data = new;
	msgbuf_len = count;
	mutex_unlock(&msgbuf_lock);

	kfree(old);
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
	.llseek = default_llseek,
};

static struct miscdevice msgbuf_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int __init msgbuf_init(void)
{
	return misc_register(&msgbuf_dev);
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_dev);
	kfree(msgbuf_data);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("One-message buffer device");
