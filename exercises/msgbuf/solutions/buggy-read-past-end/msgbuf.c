// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf whose read() computes the bytes left as a signed difference and compares it with the
 * unsigned count: at a file offset past the end of the message the difference is negative,
 * the comparison turns it into a huge number, and read copies count bytes from past the end
 * of the buffer. Reading the message from the start, in any chunk size, works.
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

static DEFINE_MUTEX(lock);
static char *msg;
static size_t msg_len;

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	long left;
	ssize_t ret;

	mutex_lock(&lock);
	left = (long)msg_len - *ppos;
	if (!msg || left == 0) {
		ret = 0;
		goto out;
	}
	if (count > left) /* left is converted to unsigned: negative becomes huge */
		count = left;
	if (copy_to_user(ubuf, msg + *ppos, count)) {
		ret = -EFAULT;
		goto out;
	}
	*ppos += count;
	ret = count;
out:
	mutex_unlock(&lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char *new, *old;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;
	new = kmalloc(count, GFP_KERNEL);
	if (!new)
		return -ENOMEM;
	if (copy_from_user(new, ubuf, count)) {
		kfree(new);
		return -EFAULT;
	}
	mutex_lock(&lock);
	old = msg;
	msg = new;
	msg_len = count;
	mutex_unlock(&lock);
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
	kfree(msg);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);
MODULE_LICENSE("GPL");
