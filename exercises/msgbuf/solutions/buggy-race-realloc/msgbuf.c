// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf - stores the last message written to /dev/msgbuf
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MAX_MSG 4096

static char *buf;
static size_t len;

static ssize_t msgbuf_read(struct file *f, char __user *ubuf, size_t count,
			   loff_t *off)
{
	if (*off >= len)
		return 0;
	if (count > len - *off)
		count = len - *off;
	if (copy_to_user(ubuf, buf + *off, count))
		return -EFAULT;
	*off += count;
	return count;
}

static ssize_t msgbuf_write(struct file *f, const char __user *ubuf,
			    size_t count, loff_t *off)
{
	if (count > MAX_MSG)
		count = MAX_MSG;

	/* throw away the old message and keep the new one */
	kfree(buf);
	buf = kmalloc(count, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	len = count;
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
};

static struct miscdevice msgbuf_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int __init msgbuf_init(void)
{
	return misc_register(&msgbuf_device);
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_device);
	kfree(buf);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);
MODULE_LICENSE("GPL");
