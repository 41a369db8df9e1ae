// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf: a misc character device holding one message of at most 4096 bytes.
 * write() replaces the message, read() returns it from the file offset.
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
static char *message;
static size_t message_len;

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&lock);
	ret = simple_read_from_buffer(buf, count, ppos, message, message_len);
	mutex_unlock(&lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	char *tmp;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;
	tmp = kmalloc(count, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	if (copy_from_user(tmp, buf, count)) {
		kfree(tmp);
		return -EFAULT;
	}

	mutex_lock(&lock);
	kfree(message);
	message = tmp;
	message_len = count;
	mutex_unlock(&lock);
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
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
	int err = misc_register(&msgbuf_misc);

	if (err)
		pr_err("msgbuf: misc_register failed: %d\n", err);
	return err;
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_misc);
	pr_info("msgbuf: bye\n");
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("student");
MODULE_DESCRIPTION("message buffer");
