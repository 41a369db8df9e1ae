// SPDX-License-Identifier: GPL-2.0
/*
 * chardev.c: creates a read-only char device that says how many times
 * it has been opened.  Modelled on the chardev example of The Linux Kernel
 * Module Programming Guide, but the message lives in each open file (not
 * in one global buffer) so that concurrent openers are safe.
 */

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#define SUCCESS 0
#define DEVICE_NAME "chardev" /* Dev name as it appears in /proc/devices */
#define BUF_LEN 80 /* Max length of the message from the device */

static int major; /* major number assigned to our device driver */

/* How many files are open right now, and how many opens we have ever seen. */
static atomic_t open_count = ATOMIC_INIT(0);
static atomic_t times_opened = ATOMIC_INIT(0);

static struct class *cls;

/* Called when a process tries to open the device file, like "cat /dev/chardev". */
static int device_open(struct inode *inode, struct file *file)
{
	char *msg;
	int n;

	msg = kmalloc(BUF_LEN, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	n = atomic_inc_return(&times_opened);
	snprintf(msg, BUF_LEN, "I already told you %d times Hello world!\n", n);
	file->private_data = msg;
	atomic_inc(&open_count);

	return SUCCESS;
}

/* Called when the last reference to an open file goes away. */
static int device_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	file->private_data = NULL;
	atomic_dec(&open_count);

	return SUCCESS;
}

/* Called when a process, which already opened the dev file, attempts to read from it. */
static ssize_t device_read(struct file *filp, /* see include/linux/fs.h */
			   char __user *buffer, /* buffer to fill with data */
			   size_t length, /* length of the buffer */
			   loff_t *offset)
{
	const char *msg = filp->private_data;
	size_t msg_len = strlen(msg);
	loff_t pos = *offset;
	size_t bytes_read;

	if (pos < 0)
		return -EINVAL;
	if (pos >= msg_len || length == 0) /* we are at the end of the message */
		return 0;

	bytes_read = min_t(size_t, length, msg_len - pos);
	if (copy_to_user(buffer, msg + pos, bytes_read))
		return -EFAULT;

	*offset = pos + bytes_read;

	/* Most read functions return the number of bytes put into the buffer. */
	return bytes_read;
}

/* Called when a process writes to dev file: echo "hi" > /dev/chardev */
static ssize_t device_write(struct file *filp, const char __user *buff,
			    size_t len, loff_t *off)
{
	pr_alert_ratelimited("Sorry, this operation is not supported.\n");
	return -EINVAL;
}

static struct file_operations chardev_fops = {
	.owner = THIS_MODULE,
	.read = device_read,
	.write = device_write,
	.open = device_open,
	.release = device_release,
	.llseek = default_llseek,
};

static int __init chardev_init(void)
{
	struct device *dev;

	major = register_chrdev(0, DEVICE_NAME, &chardev_fops);
	if (major < 0) {
		pr_alert("Registering char device failed with %d\n", major);
		return major;
	}

	pr_info("I was assigned major number %d.\n", major);

	cls = class_create(THIS_MODULE, DEVICE_NAME);
	if (IS_ERR(cls)) {
		unregister_chrdev(major, DEVICE_NAME);
		return PTR_ERR(cls);
	}

	dev = device_create(cls, NULL, MKDEV(major, 0), NULL, DEVICE_NAME);
	if (IS_ERR(dev)) {
		class_destroy(cls);
		unregister_chrdev(major, DEVICE_NAME);
		return PTR_ERR(dev);
	}

	pr_info("Device created on /dev/%s\n", DEVICE_NAME);

	return SUCCESS;
}

static void __exit chardev_exit(void)
{
	device_destroy(cls, MKDEV(major, 0));
	class_destroy(cls);

	/* Unregister the device */
	unregister_chrdev(major, DEVICE_NAME);
}

module_init(chardev_init);
module_exit(chardev_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("LKMPG-style chardev: says how many times it was opened");
