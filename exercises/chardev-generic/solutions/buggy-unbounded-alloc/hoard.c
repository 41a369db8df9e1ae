// SPDX-License-Identifier: GPL-2.0
/*
 * hoard: a misc device that keeps every write as a new chunk on a list, forever, and read()
 * returns the most recent one. Nothing bounds the memory a user can pin: a few seconds of
 * large writes exhaust the kernel's memory. No stack of the out-of-memory report passes
 * through this module; the grader has to find the allocation that did it.
 */
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

struct chunk {
	struct list_head node;
	size_t len;
	char data[];
};

static LIST_HEAD(chunks);
static DEFINE_MUTEX(lock);

static ssize_t hoard_write(struct file *f, const char __user *buf, size_t count, loff_t *ppos)
{
	/* sixteen copies "for redundancy": the bug is that nothing bounds any of this */
	struct chunk *c = kvmalloc(sizeof(*c) + count * 16, GFP_KERNEL);

	if (!c)
		return -ENOMEM;
	if (copy_from_user(c->data, buf, count)) {
		kvfree(c);
		return -EFAULT;
	}
	c->len = count;
	mutex_lock(&lock);
	list_add(&c->node, &chunks);
	mutex_unlock(&lock);
	return count;
}

static ssize_t hoard_read(struct file *f, char __user *buf, size_t count, loff_t *ppos)
{
	struct chunk *c;
	ssize_t ret = 0;

	mutex_lock(&lock);
	c = list_first_entry_or_null(&chunks, struct chunk, node);
	if (c)
		ret = simple_read_from_buffer(buf, count, ppos, c->data, c->len);
	mutex_unlock(&lock);
	return ret;
}

static const struct file_operations hoard_fops = {
	.owner = THIS_MODULE,
	.read = hoard_read,
	.write = hoard_write,
	.llseek = default_llseek,
};

static struct miscdevice hoard_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hoard",
	.fops = &hoard_fops,
	.mode = 0666,
};

static int __init hoard_init(void)
{
	return misc_register(&hoard_dev);
}

static void __exit hoard_exit(void)
{
	struct chunk *c, *tmp;

	misc_deregister(&hoard_dev);
	list_for_each_entry_safe(c, tmp, &chunks, node)
		kvfree(c);
}

module_init(hoard_init);
module_exit(hoard_exit);
MODULE_LICENSE("GPL");
