// SPDX-License-Identifier: GPL-2.0
/*
 * beacon: a misc device whose read() returns how many times a periodic timer has fired. The
 * exit function unregisters the device but never stops the timer: after unload the timer
 * fires into code that is no longer there. The crash's stack has no symbol of this module
 * any more (it was unloaded); the grader has to map the raw address back.
 */
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/timer.h>
#include <linux/uaccess.h>

static struct timer_list beacon_timer;
static atomic_t beats = ATOMIC_INIT(0);

static void beacon_tick(struct timer_list *t)
{
	atomic_inc(&beats);
	mod_timer(&beacon_timer, jiffies + msecs_to_jiffies(20));
}

static ssize_t beacon_read(struct file *f, char __user *buf, size_t count, loff_t *ppos)
{
	char text[24];
	int n = scnprintf(text, sizeof(text), "%d\n", atomic_read(&beats));

	return simple_read_from_buffer(buf, count, ppos, text, n);
}

static const struct file_operations beacon_fops = {
	.owner = THIS_MODULE,
	.read = beacon_read,
	.llseek = default_llseek,
};

static struct miscdevice beacon_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "beacon",
	.fops = &beacon_fops,
	.mode = 0444,
};

static int __init beacon_init(void)
{
	timer_setup(&beacon_timer, beacon_tick, 0);
	mod_timer(&beacon_timer, jiffies + msecs_to_jiffies(20));
	return misc_register(&beacon_dev);
}

static void __exit beacon_exit(void)
{
	misc_deregister(&beacon_dev);
	/* missing: del_timer_sync(&beacon_timer); */
}

module_init(beacon_init);
module_exit(beacon_exit);
MODULE_LICENSE("GPL");
