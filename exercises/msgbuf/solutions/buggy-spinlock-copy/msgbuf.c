// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c - a one-message mailbox device (/dev/msgbuf).
 * A spinlock keeps readers and writers apart.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>

#define MSGBUF_MAX 4096

static DEFINE_SPINLOCK(msgbuf_lock);
static char *msgbuf;
static size_t msgbuf_len;

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret = 0;

	spin_lock(&msgbuf_lock);
	if (*ppos < msgbuf_len) {
		if (count > msgbuf_len - *ppos)
			count = msgbuf_len - *ppos;
		if (copy_to_user(ubuf, msgbuf + *ppos, count)) {
			ret = -EFAULT;
		} else {
			*ppos += count;
			ret = count;
		}
	}
	spin_unlock(&msgbuf_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	ssize_t ret = count;

	if (count > MSGBUF_MAX)
		count = ret = MSGBUF_MAX;

	spin_lock(&msgbuf_lock);
	kfree(msgbuf);
	msgbuf_len = 0;
	msgbuf = kmalloc(count, GFP_KERNEL);
	if (!msgbuf) {
		ret = -ENOMEM;
		goto out;
	}
	if (copy_from_user(msgbuf, ubuf, count)) {
		ret = -EFAULT;
		goto out;
	}
	msgbuf_len = count;
out:
	spin_unlock(&msgbuf_lock);
	return ret;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
};

static struct miscdevice msgbuf_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int __init msgbuf_init(void)
{
	return misc_register(&msgbuf_miscdev);
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_miscdev);
	kfree(msgbuf);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);
MODULE_LICENSE("GPL");
