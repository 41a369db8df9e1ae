// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf that checksums every message with a recursive function, one level per 16 bytes,
 * each level with a small buffer of its own: short messages work, a 4096-byte one recurses
 * 256 deep and runs off the end of the kernel stack.
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

static u32 checksum(const char *p, size_t len)
{
	char block[160];
	size_t n = len < 16 ? len : 16;

	if (!len)
		return 0;
	memcpy(block, p, n);
	block[n] = 0;
	return block[0] + 31 * checksum(p + n, len - n) + strlen(block);
}

static u32 msgbuf_sum;

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

	msgbuf_sum = checksum(new, count);

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
