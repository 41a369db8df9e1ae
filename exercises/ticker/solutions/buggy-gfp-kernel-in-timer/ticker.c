// SPDX-License-Identifier: GPL-2.0
/*
 * ticker keeping its records in a ring of pointers: every tick allocates the new record with
 * kmalloc(GFP_KERNEL) in the timer callback. The locking is right (spin_lock_irqsave), but the
 * callback runs in softirq context, where an allocation that may sleep is not allowed
 * (GFP_ATOMIC, or no allocation at all, would be). It works until memory is tight; the kernel's
 * might_sleep check reports it on the first tick.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
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

static DEFINE_SPINLOCK(ticker_lock);
static struct ticker_record *ring[RING_SIZE]; /* protected by ticker_lock */
static unsigned int ring_head, ring_count;
static u64 next_seq = 1, drops;
static unsigned int cur_period_ms;
static bool stopping;

static DEFINE_MUTEX(read_mutex);
static struct ticker_record read_buf[RING_SIZE]; /* protected by read_mutex */

static DECLARE_WAIT_QUEUE_HEAD(ticker_wait);
static struct timer_list ticker_timer;

static void ticker_tick(struct timer_list *t)
{
	struct ticker_record *rec, *old = NULL;
	unsigned long flags;

	rec = kmalloc(sizeof(*rec), GFP_KERNEL);
	if (!rec)
		goto rearm;
	rec->ns = ktime_get_ns();

	spin_lock_irqsave(&ticker_lock, flags);
	if (ring_count == RING_SIZE) {
		old = ring[ring_head];
		ring_head = (ring_head + 1) % RING_SIZE;
		ring_count--;
		drops++;
	}
	rec->seq = next_seq++;
	ring[(ring_head + ring_count) % RING_SIZE] = rec;
	ring_count++;
	spin_unlock_irqrestore(&ticker_lock, flags);
	kfree(old);
	wake_up_interruptible(&ticker_wait);
rearm:
	spin_lock_irqsave(&ticker_lock, flags);
	if (!stopping)
		mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(cur_period_ms));
	spin_unlock_irqrestore(&ticker_lock, flags);
}

static bool ticker_has_records(void)
{
	unsigned long flags;
	bool any;

	spin_lock_irqsave(&ticker_lock, flags);
	any = ring_count > 0;
	spin_unlock_irqrestore(&ticker_lock, flags);
	return any;
}

/* Moves up to max records into read_buf, freeing them (read_mutex held). */
static unsigned int ticker_take(unsigned int max)
{
	struct ticker_record *taken[8];
	unsigned int n = 0, k, i;
	unsigned long flags;

	while (n < max) {
		spin_lock_irqsave(&ticker_lock, flags);
		k = min3(max - n, ring_count, 8u);
		for (i = 0; i < k; i++) {
			taken[i] = ring[ring_head];
			ring_head = (ring_head + 1) % RING_SIZE;
		}
		ring_count -= k;
		spin_unlock_irqrestore(&ticker_lock, flags);
		if (!k)
			break;
		for (i = 0; i < k; i++) {
			read_buf[n++] = *taken[i];
			kfree(taken[i]);
		}
	}
	return n;
}

static ssize_t ticker_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	unsigned int n;
	ssize_t ret;

	if (count < REC_SIZE)
		return -EINVAL;
	for (;;) {
		if (mutex_lock_interruptible(&read_mutex))
			return -ERESTARTSYS;
		n = ticker_take(min_t(size_t, count / REC_SIZE, RING_SIZE));
		if (n)
			break;
		mutex_unlock(&read_mutex);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(ticker_wait, ticker_has_records()))
			return -ERESTARTSYS;
	}
	n = min_t(unsigned int, n, RING_SIZE);
	ret = copy_to_user(buf, read_buf, n * REC_SIZE) ? -EFAULT : n * REC_SIZE;
	mutex_unlock(&read_mutex);
	return ret;
}

static __poll_t ticker_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &ticker_wait, wait);
	return ticker_has_records() ? EPOLLIN | EPOLLRDNORM : 0;
}

static void ticker_free_all(void)
{
	unsigned long flags;
	unsigned int n;

	do {
		n = 0;
		spin_lock_irqsave(&ticker_lock, flags);
		if (ring_count) {
			kfree(ring[ring_head]);
			ring_head = (ring_head + 1) % RING_SIZE;
			ring_count--;
			n = 1;
		}
		spin_unlock_irqrestore(&ticker_lock, flags);
	} while (n);
}

static long ticker_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	unsigned long flags;
	u32 period;
	u64 d;

	switch (cmd) {
	case TICKER_SET_PERIOD:
		if (get_user(period, (u32 __user *)arg))
			return -EFAULT;
		if (period < 1 || period > 1000)
			return -EINVAL;
		spin_lock_irqsave(&ticker_lock, flags);
		cur_period_ms = period;
		if (!stopping)
			mod_timer(&ticker_timer, jiffies + msecs_to_jiffies(period));
		spin_unlock_irqrestore(&ticker_lock, flags);
		return 0;
	case TICKER_GET_DROPS:
		spin_lock_irqsave(&ticker_lock, flags);
		d = drops;
		spin_unlock_irqrestore(&ticker_lock, flags);
		return put_user(d, (u64 __user *)arg) ? -EFAULT : 0;
	case TICKER_FLUSH:
		ticker_free_all();
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
	unsigned long flags;

	misc_deregister(&ticker_dev);
	spin_lock_irqsave(&ticker_lock, flags);
	stopping = true;
	spin_unlock_irqrestore(&ticker_lock, flags);
	del_timer_sync(&ticker_timer);
	ticker_free_all();
}

module_init(ticker_init);
module_exit(ticker_exit);

MODULE_LICENSE("GPL");
