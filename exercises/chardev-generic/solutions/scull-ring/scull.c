// SPDX-License-Identifier: GPL-2.0
/*
 * scull.c: scullring, two FIFO char devices backed by per-device ring buffers.
 *
 * Semantics (pipe-like, but never sleeping for data):
 *   read  on an empty ring: -EAGAIN with O_NONBLOCK, otherwise 0 (EOF);
 *   write on a full ring:   -EAGAIN with O_NONBLOCK, otherwise -ENOSPC;
 *   short reads and writes move as many bytes as are available / free;
 *   the devices are not seekable (lseek gives -ESPIPE).
 */

#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "scull.h"

static dev_t scull_devt;
static struct class *scull_class;
static struct scull_dev scull_devices[SCULL_NR_DEVS];

static int scull_open(struct inode *inode, struct file *filp)
{
	struct scull_dev *dev = container_of(inode->i_cdev, struct scull_dev, cdev);

	filp->private_data = dev;
	return nonseekable_open(inode, filp);
}

static int scull_release(struct inode *inode, struct file *filp)
{
	return 0;
}

static ssize_t scull_read(struct file *filp, char __user *buf, size_t count,
			  loff_t *f_pos)
{
	struct scull_dev *dev = filp->private_data;
	size_t done = 0;
	ssize_t ret;

	if (count == 0)
		return 0;

	if (mutex_lock_interruptible(&dev->lock))
		return -ERESTARTSYS;

	if (dev->used == 0) {
		ret = (filp->f_flags & O_NONBLOCK) ? -EAGAIN : 0;
		goto out;
	}

	count = min(count, dev->used);
	while (done < count) {
		/* contiguous bytes from tail to the end of the buffer or of the data */
		size_t chunk = min(count - done, SCULL_RING_SIZE - dev->tail);

		if (copy_to_user(buf + done, dev->data + dev->tail, chunk)) {
			if (done == 0) {
				ret = -EFAULT;
				goto out;
			}
			break;
		}
		dev->tail = (dev->tail + chunk) % SCULL_RING_SIZE;
		dev->used -= chunk;
		done += chunk;
	}
	ret = done;
out:
	mutex_unlock(&dev->lock);
	return ret;
}

static ssize_t scull_write(struct file *filp, const char __user *buf,
			   size_t count, loff_t *f_pos)
{
	struct scull_dev *dev = filp->private_data;
	size_t done = 0;
	ssize_t ret;

	if (count == 0)
		return 0;

	if (mutex_lock_interruptible(&dev->lock))
		return -ERESTARTSYS;

	if (dev->used == SCULL_RING_SIZE) {
		ret = (filp->f_flags & O_NONBLOCK) ? -EAGAIN : -ENOSPC;
		goto out;
	}

	count = min(count, (size_t)SCULL_RING_SIZE - dev->used);
	while (done < count) {
		/* contiguous free bytes from head to the end of the buffer */
		size_t chunk = min(count - done, SCULL_RING_SIZE - dev->head);

		if (copy_from_user(dev->data + dev->head, buf + done, chunk)) {
			if (done == 0) {
				ret = -EFAULT;
				goto out;
			}
			break;
		}
		dev->head = (dev->head + chunk) % SCULL_RING_SIZE;
		dev->used += chunk;
		done += chunk;
	}
	ret = done;
out:
	mutex_unlock(&dev->lock);
	return ret;
}

static const struct file_operations scull_fops = {
	.owner = THIS_MODULE,
	.open = scull_open,
	.release = scull_release,
	.read = scull_read,
	.write = scull_write,
	.llseek = no_llseek,
};

static void scull_cleanup(void)
{
	int i;

	for (i = 0; i < SCULL_NR_DEVS; i++) {
		struct scull_dev *dev = &scull_devices[i];

		if (dev->device)
			device_destroy(scull_class, MKDEV(MAJOR(scull_devt), MINOR(scull_devt) + i));
		if (dev->cdev_added)
			cdev_del(&dev->cdev);
		kfree(dev->data);
		dev->data = NULL;
		dev->device = NULL;
		dev->cdev_added = false;
	}
	if (!IS_ERR_OR_NULL(scull_class))
		class_destroy(scull_class);
	scull_class = NULL;
	unregister_chrdev_region(scull_devt, SCULL_NR_DEVS);
}

static int __init scull_init(void)
{
	int ret, i;

	ret = alloc_chrdev_region(&scull_devt, 0, SCULL_NR_DEVS, SCULL_NAME);
	if (ret < 0) {
		pr_err("scullring: can't get a major number: %d\n", ret);
		return ret;
	}

	scull_class = class_create(THIS_MODULE, SCULL_NAME);
	if (IS_ERR(scull_class)) {
		ret = PTR_ERR(scull_class);
		goto fail;
	}

	for (i = 0; i < SCULL_NR_DEVS; i++) {
		struct scull_dev *dev = &scull_devices[i];
		dev_t devt = MKDEV(MAJOR(scull_devt), MINOR(scull_devt) + i);
		struct device *d;

		mutex_init(&dev->lock);
		dev->head = dev->tail = dev->used = 0;
		dev->data = kmalloc(SCULL_RING_SIZE, GFP_KERNEL);
		if (!dev->data) {
			ret = -ENOMEM;
			goto fail;
		}

		cdev_init(&dev->cdev, &scull_fops);
		dev->cdev.owner = THIS_MODULE;
		ret = cdev_add(&dev->cdev, devt, 1);
		if (ret) {
			pr_err("scullring: cdev_add %d failed: %d\n", i, ret);
			goto fail;
		}
		dev->cdev_added = true;

		d = device_create(scull_class, NULL, devt, NULL, SCULL_NAME "%d", i);
		if (IS_ERR(d)) {
			ret = PTR_ERR(d);
			goto fail;
		}
		dev->device = d;
	}

	pr_info("scullring: major %d, %d devices of %d bytes\n",
		MAJOR(scull_devt), SCULL_NR_DEVS, SCULL_RING_SIZE);
	return 0;

fail:
	scull_cleanup();
	return ret;
}

static void __exit scull_exit(void)
{
	scull_cleanup();
}

module_init(scull_init);
module_exit(scull_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("scull-like ring buffer char devices");
