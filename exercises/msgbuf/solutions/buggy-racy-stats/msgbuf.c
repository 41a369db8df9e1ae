// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf that is correct about its message (a mutex guards it) but keeps "quick" statistics
 * without the lock: the length of the last message and a count of writes, updated and read
 * with plain accesses from every writer and reader at once. Nothing goes out of bounds, so
 * KASAN sees nothing; the updates are lost and torn all the same: a data race (KCSAN).
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
static size_t last_len;		/* NOT protected: "just statistics" */
static unsigned long writes;	/* NOT protected */

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	if (*ppos == 0 && last_len > MSGBUF_MAX) /* racy read of the statistics */
		pr_warn_once("msgbuf: odd length %zu\n", last_len);
	if (mutex_lock_interruptible(&msgbuf_lock))
		return -ERESTARTSYS;
	ret = simple_read_from_buffer(ubuf, count, ppos, msgbuf_data, msgbuf_len);
	mutex_unlock(&msgbuf_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	char *new, *old;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;

	/* allocate and fill the new message before taking the lock */
	new = kmalloc(count, GFP_KERNEL);
	if (!new)
		return -ENOMEM;
	if (copy_from_user(new, ubuf, count)) {
		kfree(new);
		return -EFAULT;
	}

	mutex_lock(&msgbuf_lock);
	old = msgbuf_data;
	msgbuf_data = new;
	msgbuf_len = count;
	mutex_unlock(&msgbuf_lock);

	last_len = count;	/* racy writes of the statistics */
	writes++;
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
