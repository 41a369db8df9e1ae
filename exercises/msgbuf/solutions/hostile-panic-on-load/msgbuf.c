// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a submission that crashes the kernel as soon as it is loaded.
 *
 * BUG (deliberate): msgbuf_init() fills in the device structure through the
 * global 'mdev' pointer before allocating it, i.e. it writes through a NULL
 * pointer.  Under the grading kernel (KASAN inline) the write faults on the
 * shadow of address 0x0 ("general protection fault, probably for
 * non-canonical address 0xdffffc...", "KASAN: null-ptr-deref in range ..."),
 * the oops is in msgbuf_init, and panic_on_oops turns it into a panic.
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

struct msgbuf_dev {
	struct mutex lock;
	size_t len;
	char data[MSGBUF_SIZE];
};

static struct msgbuf_dev *mdev;

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&mdev->lock);
	ret = simple_read_from_buffer(buf, count, ppos, mdev->data, mdev->len);
	mutex_unlock(&mdev->lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	if (count > MSGBUF_SIZE)
		return -EINVAL;
	mutex_lock(&mdev->lock);
	if (copy_from_user(mdev->data, buf, count)) {
		mutex_unlock(&mdev->lock);
		return -EFAULT;
	}
	mdev->len = count;
	mutex_unlock(&mdev->lock);
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

	/* start with an empty message */
	mdev->len = 0;		/* BUG: mdev has not been allocated yet (NULL) */
	mutex_init(&mdev->lock);

	mdev = kzalloc(sizeof(*mdev), GFP_KERNEL);
	if (!mdev)
		return -ENOMEM;

	ret = misc_register(&msgbuf_misc);
	if (ret) {
		kfree(mdev);
		return ret;
	}
	return 0;
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_misc);
	kfree(mdev);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf that writes through a NULL pointer in init (deliberately broken)");
