// SPDX-License-Identifier: GPL-2.0
/*
 * ticker with a "lock-free" ring: free-running head and tail counters, the timer callback only
 * moves the tail (and the head when the ring is full), readers only move the head, so no lock
 * seems needed. But several readers move the head at once: two readers woken by the same tick
 * both copy the record at the head and both advance it, so a record reaches two readers, or one
 * is skipped; and the callback's drop races the readers too. Nothing the kernel's memory
 * checkers see (every index stays inside the ring): only the records tell.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/timer.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

struct ticker_record {
	__u64 seq;
	__u64 ns;
};

#define TICKER_SET_PERIOD _IOW('t', 1, __u32)
#define TICKER_GET_DROPS _IOR('t', 2, __u64)
#define TICKER_FLUSH _IO('t', 3)

#define RING_SIZE 64
#define REC_SIZE sizeof(struct ticker_record)

static unsigned int period_ms = 10;
module_param(period_ms, uint, 0444);

static struct ticker_record ring[RING_SIZE];
static unsigned int head, tail; /* free-running; ring[i % RING_SIZE] */
static u64 next_seq = 1, drops;
static unsigned int cur_period_ms;
static bool stopping;

static DECLARE_WAIT_QUEUE_HEAD(ticker_wait);
static struct timer_list ticker_timer;

static void ticker_tick(struct timer_list *t)
{
	struct ticker_record *rec = &ring[tail % RING_SIZE];

	rec->seq = next_seq++;
	rec->ns = ktime_get_ns();
	tail++;
	if (tail - head > RING_SIZE) {
		head = tail - RING_SIZE;
		drops++;
	}
	if (!stopping)
		mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(cur_period_ms));
	wake_up_interruptible(&ticker_wait);
}

static ssize_t ticker_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	size_t done = 0;

	if (count < REC_SIZE)
		return -EINVAL;
	while (head == tail) {
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(ticker_wait, head != tail))
			return -ERESTARTSYS;
	}
	while (head != tail && count - done >= REC_SIZE) {
		if (copy_to_user(buf + done, &ring[head % RING_SIZE], REC_SIZE))
			return done ? done : -EFAULT;
		head++;
		done += REC_SIZE;
	}
	return done;
}

static __poll_t ticker_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &ticker_wait, wait);
	return head != tail ? EPOLLIN | EPOLLRDNORM : 0;
}

static long ticker_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	u32 period;

	switch (cmd) {
	case TICKER_SET_PERIOD:
		if (get_user(period, (u32 __user *)arg))
			return -EFAULT;
		if (period < 1 || period > 1000)
			return -EINVAL;
		cur_period_ms = period;
		mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(period));
		return 0;
	case TICKER_GET_DROPS:
		return put_user(drops, (u64 __user *)arg) ? -EFAULT : 0;
	case TICKER_FLUSH:
		head = tail;
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ticker_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.read = ticker_read,
	.poll = ticker_poll,
	.unlocked_ioctl = ticker_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice ticker_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ticker",
	.fops = &ticker_fops,
	.mode = 0444,
};

static int __init ticker_init(void)
{
	int ret;

	if (period_ms < 1 || period_ms > 1000)
		return -EINVAL;
	cur_period_ms = period_ms;
	timer_setup(&ticker_timer, ticker_tick, 0);
	ret = misc_register(&ticker_dev);
	if (ret)
		return ret;
	mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(cur_period_ms));
	return 0;
}

static void __exit ticker_exit(void)
{
	misc_deregister(&ticker_dev);
	stopping = true;
	del_timer_sync(&ticker_timer);
}

module_init(ticker_init);
module_exit(ticker_exit);

MODULE_LICENSE("GPL");
