// SPDX-License-Identifier: GPL-2.0
/*
 * scullm: LDD3's scull layout, three names on one major and no device nodes (LDD3 makes them
 * with a load script): "scull" on minors 0-3 (a memory device), "scullp" on minors 4-7 (a pipe
 * device) and "sculla" on minors 8-9 (the memory device again). /proc/devices lists the major
 * three times. The memory devices are correct; the pipe devices' read copies what the caller
 * asks from a 64-byte buffer without bounding it: a bug only a grader that opens minors 4-7
 * ever reaches.
 */
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MEM_SIZE 4096
#define PIPE_SIZE 64

struct scullm_dev {
	struct mutex lock;
	char *data;
	size_t len;
};

static dev_t base;
static struct scullm_dev mem_devs[6]; /* minors 0-3 and 8-9 */
static struct scullm_dev pipe_devs[4]; /* minors 4-7 */
static struct cdev mem_cdev, pipe_cdev, acc_cdev;

static struct scullm_dev *mem_of(unsigned int minor)
{
	return &mem_devs[minor < 4 ? minor : minor - 4];
}

static int mem_open(struct inode *inode, struct file *f)
{
	f->private_data = mem_of(iminor(inode));
	return 0;
}

static ssize_t mem_read(struct file *f, char __user *ubuf, size_t count, loff_t *off)
{
	struct scullm_dev *d = f->private_data;
	ssize_t ret = 0;

	mutex_lock(&d->lock);
	if (*off >= 0 && *off < d->len) {
		count = min_t(size_t, count, d->len - *off);
		if (copy_to_user(ubuf, d->data + *off, count)) {
			ret = -EFAULT;
		} else {
			*off += count;
			ret = count;
		}
	}
	mutex_unlock(&d->lock);
	return ret;
}

static ssize_t mem_write(struct file *f, const char __user *ubuf, size_t count, loff_t *off)
{
	struct scullm_dev *d = f->private_data;
	ssize_t ret;

	if (*off < 0 || *off >= MEM_SIZE)
		return *off < 0 ? -EINVAL : -ENOSPC;
	count = min_t(size_t, count, MEM_SIZE - *off);
	mutex_lock(&d->lock);
	if (copy_from_user(d->data + *off, ubuf, count)) {
		ret = -EFAULT;
	} else {
		*off += count;
		d->len = max_t(size_t, d->len, *off);
		ret = count;
	}
	mutex_unlock(&d->lock);
	return ret;
}

static const struct file_operations mem_fops = {
	.owner = THIS_MODULE,
	.open = mem_open,
	.read = mem_read,
	.write = mem_write,
	.llseek = default_llseek,
};

static int pipe_open(struct inode *inode, struct file *f)
{
	f->private_data = &pipe_devs[iminor(inode) - 4];
	return stream_open(inode, f);
}

static ssize_t pipe_read(struct file *f, char __user *ubuf, size_t count, loff_t *off)
{
	struct scullm_dev *d = f->private_data;
	ssize_t ret;

	mutex_lock(&d->lock);
	if (d->len == 0) {
		mutex_unlock(&d->lock);
		return 0;
	}
	/* BUG: count is never bounded by the 64-byte buffer (nor by what it holds) */
	if (copy_to_user(ubuf, d->data, count)) {
		ret = -EFAULT;
	} else {
		d->len = 0;
		ret = count;
	}
	mutex_unlock(&d->lock);
	return ret;
}

static ssize_t pipe_write(struct file *f, const char __user *ubuf, size_t count, loff_t *off)
{
	struct scullm_dev *d = f->private_data;
	ssize_t ret;

	count = min_t(size_t, count, PIPE_SIZE);
	mutex_lock(&d->lock);
	if (copy_from_user(d->data, ubuf, count)) {
		ret = -EFAULT;
	} else {
		d->len = count;
		ret = count;
	}
	mutex_unlock(&d->lock);
	return ret;
}

static const struct file_operations pipe_fops = {
	.owner = THIS_MODULE,
	.open = pipe_open,
	.read = pipe_read,
	.write = pipe_write,
	.llseek = no_llseek,
};

static void free_devs(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(mem_devs); i++)
		kfree(mem_devs[i].data);
	for (i = 0; i < ARRAY_SIZE(pipe_devs); i++)
		kfree(pipe_devs[i].data);
}

static int __init scullm_init(void)
{
	int i, err;

	for (i = 0; i < ARRAY_SIZE(mem_devs); i++) {
		mutex_init(&mem_devs[i].lock);
		mem_devs[i].data = kzalloc(MEM_SIZE, GFP_KERNEL);
		if (!mem_devs[i].data)
			goto nomem;
	}
	for (i = 0; i < ARRAY_SIZE(pipe_devs); i++) {
		mutex_init(&pipe_devs[i].lock);
		pipe_devs[i].data = kzalloc(PIPE_SIZE, GFP_KERNEL);
		if (!pipe_devs[i].data)
			goto nomem;
	}
	err = alloc_chrdev_region(&base, 0, 4, "scull");
	if (err)
		goto out_free;
	err = register_chrdev_region(MKDEV(MAJOR(base), 4), 4, "scullp");
	if (err)
		goto out_scull;
	err = register_chrdev_region(MKDEV(MAJOR(base), 8), 2, "sculla");
	if (err)
		goto out_scullp;
	cdev_init(&mem_cdev, &mem_fops);
	cdev_init(&pipe_cdev, &pipe_fops);
	cdev_init(&acc_cdev, &mem_fops);
	mem_cdev.owner = pipe_cdev.owner = acc_cdev.owner = THIS_MODULE;
	err = cdev_add(&mem_cdev, base, 4);
	if (err)
		goto out_sculla;
	err = cdev_add(&pipe_cdev, MKDEV(MAJOR(base), 4), 4);
	if (err)
		goto out_mem;
	err = cdev_add(&acc_cdev, MKDEV(MAJOR(base), 8), 2);
	if (err)
		goto out_pipe;
	return 0;

out_pipe:
	cdev_del(&pipe_cdev);
out_mem:
	cdev_del(&mem_cdev);
out_sculla:
	unregister_chrdev_region(MKDEV(MAJOR(base), 8), 2);
out_scullp:
	unregister_chrdev_region(MKDEV(MAJOR(base), 4), 4);
out_scull:
	unregister_chrdev_region(base, 4);
	goto out_free;
nomem:
	err = -ENOMEM;
out_free:
	free_devs();
	return err;
}

static void __exit scullm_exit(void)
{
	cdev_del(&acc_cdev);
	cdev_del(&pipe_cdev);
	cdev_del(&mem_cdev);
	unregister_chrdev_region(MKDEV(MAJOR(base), 8), 2);
	unregister_chrdev_region(MKDEV(MAJOR(base), 4), 4);
	unregister_chrdev_region(base, 4);
	free_devs();
}

module_init(scullm_init);
module_exit(scullm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("LDD3-style scull: three names on one major, no nodes; the pipe minors read past their buffer");
