// SPDX-License-Identifier: GPL-2.0
/*
 * nodeless.c: a fixed-size scratch memory device that only registers a
 * (dynamic) major named "nodeless" and creates no /dev node; users look the
 * major up in /proc/devices and mknod the node themselves:
 *
 *	mknod /dev/nodeless c $(awk '$2=="nodeless"{print $1}' /proc/devices) 0
 *
 * Reads and writes work like on a small file of NODELESS_SIZE bytes:
 * positioned, bounded by the size (writes past the end give -ENOSPC),
 * seekable with SEEK_SET/SEEK_CUR/SEEK_END.  Every minor shares the store.
 */

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

#define NODELESS_NAME "nodeless"
#define NODELESS_SIZE 4096

static int nodeless_major;
static DEFINE_MUTEX(store_lock);
static char store[NODELESS_SIZE]; /* protected by store_lock */

static ssize_t nodeless_read(struct file *file, char __user *buf, size_t count,
			     loff_t *ppos)
{
	loff_t pos = *ppos;
	size_t n;

	if (pos < 0)
		return -EINVAL;
	if (pos >= NODELESS_SIZE || count == 0)
		return 0;
	n = min_t(size_t, count, NODELESS_SIZE - pos);

	if (mutex_lock_interruptible(&store_lock))
		return -ERESTARTSYS;
	if (copy_to_user(buf, store + pos, n)) {
		mutex_unlock(&store_lock);
		return -EFAULT;
	}
	mutex_unlock(&store_lock);

	*ppos = pos + n;
	return n;
}

static ssize_t nodeless_write(struct file *file, const char __user *buf,
			      size_t count, loff_t *ppos)
{
	loff_t pos = *ppos;
	size_t n;

	if (pos < 0)
		return -EINVAL;
	if (count == 0)
		return 0;
	if (pos >= NODELESS_SIZE)
		return -ENOSPC;
	n = min_t(size_t, count, NODELESS_SIZE - pos);

	if (mutex_lock_interruptible(&store_lock))
		return -ERESTARTSYS;
	if (copy_from_user(store + pos, buf, n)) {
		mutex_unlock(&store_lock);
		return -EFAULT;
	}
	mutex_unlock(&store_lock);

	*ppos = pos + n;
	return n;
}

static loff_t nodeless_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, NODELESS_SIZE);
}

static const struct file_operations nodeless_fops = {
	.owner = THIS_MODULE,
	.read = nodeless_read,
	.write = nodeless_write,
	.llseek = nodeless_llseek,
};

static int __init nodeless_init(void)
{
	int major = register_chrdev(0, NODELESS_NAME, &nodeless_fops);

	if (major < 0) {
		pr_err("nodeless: register_chrdev failed: %d\n", major);
		return major;
	}
	nodeless_major = major;
	pr_info("nodeless: major %d (no /dev node is created; mknod it)\n", major);
	return 0;
}

static void __exit nodeless_exit(void)
{
	unregister_chrdev(nodeless_major, NODELESS_NAME);
}

module_init(nodeless_init);
module_exit(nodeless_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("scratch memory device with a dynamic major and no device node");
