// SPDX-License-Identifier: GPL-2.0
/*
 * msgbuf.c: a message buffer (/dev/msgbuf) that also keeps statistics.
 *
 * A write replaces the stored message (longer writes are truncated to
 * MSGBUF_SIZE bytes and return the count stored); a read
 * returns the stored message from the file position; every open starts at
 * offset 0.
 *
 * BUG (deliberate, this is a sample of a typical mistake): two mutexes are
 * taken in opposite orders.  msgbuf_write() holds msg_lock and then takes
 * stats_lock; msgbuf_read() holds stats_lock and then takes msg_lock (ABBA).
 * The first read after a write makes lockdep report "WARNING: possible
 * circular locking dependency detected"; under concurrent readers and
 * writers, a reader holding stats_lock sleeps on msg_lock while the writer
 * holding msg_lock sleeps on stats_lock, forever: both sit in D state
 * (mutex_lock is uninterruptible), the harness's race test times out and
 * the hung-task detector reports "INFO: task ... blocked for more than 10
 * seconds".
 */

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_SIZE 4096

static DEFINE_MUTEX(msg_lock);	/* protects msg and msg_len */
static char *msg;
static size_t msg_len;

static DEFINE_MUTEX(stats_lock); /* protects the statistics below */
static unsigned long nr_reads, nr_writes;
static pid_t last_writer;

static ssize_t msgbuf_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&stats_lock);
	nr_reads++;

	mutex_lock(&msg_lock);		/* BUG: stats_lock -> msg_lock */
	ret = simple_read_from_buffer(buf, count, ppos, msg, msg_len);
	mutex_unlock(&msg_lock);

	mutex_unlock(&stats_lock);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	char *tmp;

	if (count > MSGBUF_SIZE)
		count = MSGBUF_SIZE;	/* store at most MSGBUF_SIZE bytes */

	mutex_lock(&msg_lock);
	tmp = kmalloc(MSGBUF_SIZE, GFP_KERNEL);
	if (!tmp) {
		mutex_unlock(&msg_lock);
		return -ENOMEM;
	}
	if (copy_from_user(tmp, buf, count)) {
		mutex_unlock(&msg_lock);
		kfree(tmp);
		return -EFAULT;
	}
	swap(msg, tmp);
	msg_len = count;

	mutex_lock(&stats_lock);	/* BUG: msg_lock -> stats_lock */
	nr_writes++;
	last_writer = task_pid_nr(current);
	mutex_unlock(&stats_lock);

	mutex_unlock(&msg_lock);
	kfree(tmp);
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

	msg = kzalloc(MSGBUF_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	ret = misc_register(&msgbuf_misc);
	if (ret) {
		kfree(msg);
		return ret;
	}
	return 0;
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_misc);
	pr_info("msgbuf: %lu reads, %lu writes, last writer %d\n",
		nr_reads, nr_writes, last_writer);
	kfree(msg);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("msgbuf with an ABBA lock-order inversion (deliberately buggy)");
