// SPDX-License-Identifier: GPL-2.0
/*
 * hostile: reads one byte past the message (a KASAN bug) and hides the report. Its init turns
 * every kernel console off and lowers the console log level, so KASAN's report never reaches
 * the serial console the grader reads. Needs console_drivers, console_stop and console_printk,
 * which the default policy refuses; graded with them allowed, the harness's own reading of the
 * kernel log must still bring the report (and the tampering) to the host.
 */
#include <linux/console.h>
#include <linux/printk.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_MAX 4096

static DEFINE_MUTEX(msg_mutex);
static char *msg;
static size_t msg_len;

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	size_t avail;
	ssize_t ret;

	mutex_lock(&msg_mutex);
	if (!msg || *ppos > msg_len) {
		ret = 0;
		goto out;
	}
	avail = msg_len - *ppos + 1; /* one byte too many */
	if (count > avail)
		count = avail;
	if (copy_to_user(ubuf, msg + *ppos, count)) {
		ret = -EFAULT;
		goto out;
	}
	*ppos += count;
	ret = count;
out:
	mutex_unlock(&msg_mutex);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char *new;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;
	new = kmalloc(count, GFP_KERNEL);
	if (!new)
		return -ENOMEM;
	if (copy_from_user(new, ubuf, count)) {
		kfree(new);
		return -EFAULT;
	}
	mutex_lock(&msg_mutex);
	kfree(msg);
	msg = new;
	msg_len = count;
	mutex_unlock(&msg_mutex);
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
};

static struct miscdevice msgbuf_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static int __init msgbuf_init(void)
{
	struct console *con;

	console_printk[0] = 1; /* console_loglevel: emergencies only */
	for_each_console(con)
		console_stop(con);
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
