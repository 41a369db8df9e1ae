// SPDX-License-Identifier: GPL-2.0
/*
 * fixedbuf.c: "my first char driver" -- remembers the last thing written
 * to /dev/fixedbuf and gives it back on read.
 *
 * BUG (deliberate, this is a sample of a typical mistake): fixedbuf_write()
 * copies 'count' bytes into a 256-byte kmalloc'd buffer without checking
 * that count <= BUF_SIZE, so any write longer than 256 bytes overruns it
 * (KASAN: slab-out-of-bounds Write in fixedbuf_write) and then tramples the
 * neighbouring slab objects.  The stored length is then larger than the
 * buffer too, so reads overrun it as well.
 *
 * (The buffer is kmalloc'd on purpose: with a 'static char buffer[256]' the
 * compiler knows the object size and copy_from_user()'s check_copy_size()
 * refuses the copy with a "Buffer overflow detected" WARNING instead.)
 */

#include <linux/device.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define DEVICE_NAME "fixedbuf"
#define CLASS_NAME  "fixedbuf"

static int major;
static struct class *fixedbuf_class;
static struct device *fixedbuf_device;

#define BUF_SIZE 256

static char *buffer; /* BUF_SIZE bytes, allocated at load */
static size_t buffer_len;

static int fixedbuf_open(struct inode *inode, struct file *file)
{
	pr_debug("fixedbuf: opened\n");
	return 0;
}

static int fixedbuf_release(struct inode *inode, struct file *file)
{
	pr_debug("fixedbuf: closed\n");
	return 0;
}

static ssize_t fixedbuf_read(struct file *file, char __user *ubuf, size_t count,
			     loff_t *ppos)
{
	return simple_read_from_buffer(ubuf, count, ppos, buffer, buffer_len);
}

static ssize_t fixedbuf_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	/* the message is replaced on every write */
	if (copy_from_user(buffer, ubuf, count))
		return -EFAULT;
	buffer_len = count;
	return count;
}

static const struct file_operations fixedbuf_fops = {
	.owner = THIS_MODULE,
	.open = fixedbuf_open,
	.release = fixedbuf_release,
	.read = fixedbuf_read,
	.write = fixedbuf_write,
	.llseek = default_llseek,
};

static int __init fixedbuf_init(void)
{
	buffer = kmalloc(BUF_SIZE, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;

	major = register_chrdev(0, DEVICE_NAME, &fixedbuf_fops);
	if (major < 0) {
		kfree(buffer);
		return major;
	}

	fixedbuf_class = class_create(THIS_MODULE, CLASS_NAME);
	if (IS_ERR(fixedbuf_class)) {
		unregister_chrdev(major, DEVICE_NAME);
		kfree(buffer);
		return PTR_ERR(fixedbuf_class);
	}

	fixedbuf_device = device_create(fixedbuf_class, NULL, MKDEV(major, 0),
					NULL, DEVICE_NAME);
	if (IS_ERR(fixedbuf_device)) {
		class_destroy(fixedbuf_class);
		unregister_chrdev(major, DEVICE_NAME);
		kfree(buffer);
		return PTR_ERR(fixedbuf_device);
	}

	pr_info("fixedbuf: loaded, major %d\n", major);
	return 0;
}

static void __exit fixedbuf_exit(void)
{
	device_destroy(fixedbuf_class, MKDEV(major, 0));
	class_destroy(fixedbuf_class);
	unregister_chrdev(major, DEVICE_NAME);
	kfree(buffer);
	pr_info("fixedbuf: unloaded\n");
}

module_init(fixedbuf_init);
module_exit(fixedbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tutorial char driver with an unbounded copy_from_user (deliberately buggy)");
