// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a message buffer driver that does not compile.
 *
 * Deliberate mistakes:
 *   - msgbuf_read(): an unused local variable (warning: unused variable 'i');
 *   - msgbuf_write(): a missing ';' after the count check (error: expected
 *     ';' before 'if') and a use of 'msgbuf_lock', which was renamed to
 *     'msg_lock' everywhere else (error: 'msgbuf_lock' undeclared).
 */

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_SIZE 4096

static DEFINE_MUTEX(msg_lock);
static char *msg;
static size_t msg_len;

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;
	int i;

	mutex_lock(&msg_lock);
	ret = simple_read_from_buffer(buf, count, ppos, msg, msg_len);
	mutex_unlock(&msg_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	ssize_t ret = count;

	if (count > MSGBUF_SIZE)
		ret = -EINVAL
	if (ret < 0)
		return ret;

	mutex_lock(&msgbuf_lock);
	if (copy_from_user(msg, buf, count)) {
		mutex_unlock(&msg_lock);
		return -EFAULT;
	}
	msg_len = count;
	mutex_unlock(&msg_lock);
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

static int __init msgbuf_init(void)
{
	int ret;

	msg = kzalloc(MSGBUF_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	ret = misc_register(&msgbuf_misc);
	if (ret)
		kfree(msg);
	return ret;
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_misc);
	kfree(msg);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf with compile errors (deliberately broken)");
