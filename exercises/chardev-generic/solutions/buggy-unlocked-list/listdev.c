// SPDX-License-Identifier: GPL-2.0
/*
 * listdev.c: a FIFO of written chunks.  Every write() becomes one chunk on
 * a linked list; read() hands the oldest chunk back (possibly over several
 * reads) and frees it once it has been read completely.
 *
 * BUG (deliberate, this is a sample of a typical mistake): the list and the
 * chunks are shared by every open file but nothing locks them.  Two readers
 * can pick the same head chunk, both copy from it and both list_del() and
 * kfree() it (KASAN: slab-use-after-free / double-free, DEBUG_LIST: list_del
 * corruption), and a writer's list_add_tail() racing a reader's list_del()
 * corrupts the list (DEBUG_LIST: list_add corruption).
 */

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define DEVICE_NAME "listdev"
#define LISTDEV_MAX_BYTES (1024 * 1024) /* refuse writes beyond 1 MiB queued */

struct chunk {
	struct list_head list;
	size_t len; /* bytes in data[] */
	size_t pos; /* bytes of data[] already read */
	char data[];
};

static LIST_HEAD(chunks); /* BUG: no lock protects this list */
static atomic_long_t queued_bytes = ATOMIC_LONG_INIT(0);

static int major;
static struct class *listdev_class;

static ssize_t listdev_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct chunk *c;

	if (count == 0)
		return 0;
	if (atomic_long_read(&queued_bytes) + count > LISTDEV_MAX_BYTES)
		return -ENOSPC;

	c = kmalloc(sizeof(*c) + count, GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->len = count;
	c->pos = 0;
	if (copy_from_user(c->data, ubuf, count)) {
		kfree(c);
		return -EFAULT;
	}

	list_add_tail(&c->list, &chunks);
	atomic_long_add(count, &queued_bytes);
	return count;
}

static ssize_t listdev_read(struct file *file, char __user *ubuf, size_t count,
			    loff_t *ppos)
{
	struct chunk *c;
	size_t n;

	if (list_empty(&chunks))
		return 0;

	c = list_first_entry(&chunks, struct chunk, list);
	n = min(count, c->len - c->pos);
	if (copy_to_user(ubuf, c->data + c->pos, n))
		return -EFAULT;
	c->pos += n;

	if (c->pos >= c->len) {
		/* this chunk is used up */
		list_del(&c->list);
		atomic_long_sub(c->len, &queued_bytes);
		kfree(c);
	}
	return n;
}

static const struct file_operations listdev_fops = {
	.owner = THIS_MODULE,
	.read = listdev_read,
	.write = listdev_write,
	.llseek = noop_llseek,
};

static int __init listdev_init(void)
{
	struct device *dev;

	major = register_chrdev(0, DEVICE_NAME, &listdev_fops);
	if (major < 0)
		return major;

	listdev_class = class_create(THIS_MODULE, DEVICE_NAME);
	if (IS_ERR(listdev_class)) {
		unregister_chrdev(major, DEVICE_NAME);
		return PTR_ERR(listdev_class);
	}

	dev = device_create(listdev_class, NULL, MKDEV(major, 0), NULL, DEVICE_NAME);
	if (IS_ERR(dev)) {
		class_destroy(listdev_class);
		unregister_chrdev(major, DEVICE_NAME);
		return PTR_ERR(dev);
	}
	return 0;
}

static void __exit listdev_exit(void)
{
	struct chunk *c, *tmp;

	device_destroy(listdev_class, MKDEV(major, 0));
	class_destroy(listdev_class);
	unregister_chrdev(major, DEVICE_NAME);

	list_for_each_entry_safe(c, tmp, &chunks, list) {
		list_del(&c->list);
		kfree(c);
	}
}

module_init(listdev_init);
module_exit(listdev_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("FIFO of written chunks on an unlocked list (deliberately buggy)");
