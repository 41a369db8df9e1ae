// SPDX-License-Identifier: GPL-2.0
/*
 * ticker protected by one mutex, "because read() sleeps": read(), poll() and the ioctls take it,
 * and so does the timer callback. But the callback runs in softirq context, where sleeping is
 * not allowed, and mutex_lock() may sleep (it does whenever a reader holds the mutex). The
 * kernel's might_sleep check reports it on the first tick.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
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

static DEFINE_MUTEX(ticker_mutex);
/* protected by ticker_mutex */
static struct ticker_record ring[RING_SIZE];
static unsigned int ring_head, ring_count;
static u64 next_seq = 1, drops;
static unsigned int cur_period_ms;
static bool stopping;
static struct ticker_record read_buf[RING_SIZE];

static DECLARE_WAIT_QUEUE_HEAD(ticker_wait);
static struct timer_list ticker_timer;

static void ticker_tick(struct timer_list *t)
{
	struct ticker_record *rec;

	mutex_lock(&ticker_mutex);
	if (ring_count == RING_SIZE) {
		ring_head = (ring_head + 1) % RING_SIZE;
		ring_count--;
		drops++;
	}
	rec = &ring[(ring_head + ring_count) % RING_SIZE];
	rec->seq = next_seq++;
	rec->ns = ktime_get_ns();
	ring_count++;
	if (!stopping)
		mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(cur_period_ms));
	mutex_unlock(&ticker_mutex);

	wake_up_interruptible(&ticker_wait);
}

/* a glance without the mutex: wait_event's condition must not sleep */
static bool ticker_has_records(void)
{
	return READ_ONCE(ring_count) > 0;
}

static ssize_t ticker_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	unsigned int n, i;
	ssize_t ret;

	if (count < REC_SIZE)
		return -EINVAL;
	for (;;) {
		if (mutex_lock_interruptible(&ticker_mutex))
			return -ERESTARTSYS;
		if (ring_count)
			break;
		mutex_unlock(&ticker_mutex);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(ticker_wait, ticker_has_records()))
			return -ERESTARTSYS;
	}
	n = min3(count / REC_SIZE, (size_t)ring_count, (size_t)RING_SIZE);
	for (i = 0; i < n; i++)
		read_buf[i] = ring[(ring_head + i) % RING_SIZE];
	ring_head = (ring_head + n) % RING_SIZE;
	ring_count -= n;
	ret = copy_to_user(buf, read_buf, n * REC_SIZE) ? -EFAULT : n * REC_SIZE;
	mutex_unlock(&ticker_mutex);
	return ret;
}

static __poll_t ticker_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &ticker_wait, wait);
	return ticker_has_records() ? EPOLLIN | EPOLLRDNORM : 0;
}

static long ticker_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	u32 period;
	u64 d;

	switch (cmd) {
	case TICKER_SET_PERIOD:
		if (get_user(period, (u32 __user *)arg))
			return -EFAULT;
		if (period < 1 || period > 1000)
			return -EINVAL;
		mutex_lock(&ticker_mutex);
		cur_period_ms = period;
		if (!stopping)
			mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(period));
		mutex_unlock(&ticker_mutex);
		return 0;
	case TICKER_GET_DROPS:
		mutex_lock(&ticker_mutex);
		d = drops;
		mutex_unlock(&ticker_mutex);
		return put_user(d, (u64 __user *)arg) ? -EFAULT : 0;
	case TICKER_FLUSH:
		mutex_lock(&ticker_mutex);
		ring_head = 0;
		ring_count = 0;
		mutex_unlock(&ticker_mutex);
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
	mutex_lock(&ticker_mutex);
	stopping = true;
	mutex_unlock(&ticker_mutex);
	del_timer_sync(&ticker_timer);
}

module_init(ticker_init);
module_exit(ticker_exit);

MODULE_LICENSE("GPL");
