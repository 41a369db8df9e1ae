// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf with a bug on the error path of write(): it frees the old message and allocates the
 * new one first, and when copy_from_user() then fails it frees the new buffer too but leaves
 * the pointer in place. Every single-threaded test with valid buffers passes; the next read
 * after a write from a bad user pointer reads freed memory.
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
	ssize_t ret;

	mutex_lock(&lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, msg, msg_len);
	mutex_unlock(&lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;
	mutex_lock(&lock);
	kfree(msg);
	msg = kmalloc(count, GFP_KERNEL);
	if (!msg) {
		msg_len = 0;
		mutex_unlock(&lock);
		return -ENOMEM;
	}
	if (copy_from_user(msg, ubuf, count)) {
		kfree(msg); /* msg still points at the freed buffer */
		mutex_unlock(&lock);
		return -EFAULT;
	}
	msg_len = count;
	mutex_unlock(&lock);
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
