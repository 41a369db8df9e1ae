// SPDX-License-Identifier: GPL-2.0
/*
 * lockctl: a misc device with a small register that ioctl reads and writes under a mutex.
 * One ioctl command ("begin a transaction") takes the mutex and returns to user space holding
 * it, expecting a later "commit" command to release it. Lockdep reports a lock held when
 * returning to user space; the report's stack is the syscall exit path, not this module.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

#define LOCKCTL_GET _IOR('L', 1, int)
#define LOCKCTL_SET _IOW('L', 2, int)
#define LOCKCTL_BEGIN _IO('L', 3)
#define LOCKCTL_COMMIT _IO('L', 4)

static DEFINE_MUTEX(reg_lock);
static int reg;

static long lockctl_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	int v;

	switch (cmd) {
	case LOCKCTL_GET:
		mutex_lock(&reg_lock);
		v = reg;
		mutex_unlock(&reg_lock);
		return put_user(v, (int __user *)arg);
	case LOCKCTL_SET:
		if (get_user(v, (int __user *)arg))
			return -EFAULT;
		mutex_lock(&reg_lock);
		reg = v;
		mutex_unlock(&reg_lock);
		return 0;
	case LOCKCTL_BEGIN:
		mutex_lock(&reg_lock); /* released by COMMIT: returns to user space holding it */
		return 0;
	case LOCKCTL_COMMIT:
		mutex_unlock(&reg_lock);
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations lockctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lockctl_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice lockctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "lockctl",
	.fops = &lockctl_fops,
	.mode = 0666,
};

static int __init lockctl_init(void)
{
	return misc_register(&lockctl_dev);
}

static void __exit lockctl_exit(void)
{
	misc_deregister(&lockctl_dev);
}

module_init(lockctl_init);
module_exit(lockctl_exit);
MODULE_LICENSE("GPL");
