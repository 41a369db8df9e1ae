// SPDX-License-Identifier: GPL-2.0
/*
 * ticker whose exit function unregisters the device but never stops the timer: the callback
 * re-arms itself every period, so after unload the timer fires into the module's freed memory
 * (the timer_list itself lived in it). The crash's stack has no symbol of the module any more.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
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
#define PERIOD_MIN_MS 1
#define PERIOD_MAX_MS 1000
#define REC_SIZE sizeof(struct ticker_record)

static unsigned int period_ms = 10;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "timer period in milliseconds (1..1000)");

static DEFINE_SPINLOCK(ticker_lock);
/* protected by ticker_lock (taken with interrupts off: the timer callback shares it) */
static struct ticker_record ring[RING_SIZE];
static unsigned int ring_head, ring_count;
static u64 next_seq = 1;
static u64 drops;
static unsigned int cur_period_ms;
static bool stopping;

static DEFINE_MUTEX(read_mutex);
static struct ticker_record read_buf[RING_SIZE]; /* protected by read_mutex */

static DECLARE_WAIT_QUEUE_HEAD(ticker_wait);
static struct timer_list ticker_timer;

static void ticker_tick(struct timer_list *t)
{
	struct ticker_record *rec;
	unsigned long flags;

	spin_lock_irqsave(&ticker_lock, flags);
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
	spin_unlock_irqrestore(&ticker_lock, flags);

	wake_up_interruptible(&ticker_wait);
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

/* Takes up to max records from the head of the ring into read_buf (read_mutex held). */
static unsigned int ticker_take(unsigned int max)
{
	unsigned long flags;
	unsigned int n, i;

	spin_lock_irqsave(&ticker_lock, flags);
	n = min(max, ring_count);
	for (i = 0; i < n; i++)
		read_buf[i] = ring[(ring_head + i) % RING_SIZE];
	ring_head = (ring_head + n) % RING_SIZE;
	ring_count -= n;
	spin_unlock_irqrestore(&ticker_lock, flags);
	return n;
}

/*
 * Puts read_buf[from, n) back at the head of the ring after a failed copy (read_mutex held, so
 * no other reader took newer records meanwhile). What no longer fits is the oldest: dropped.
 */
static void ticker_put_back(unsigned int from, unsigned int n)
{
	unsigned long flags;

	spin_lock_irqsave(&ticker_lock, flags);
	while (n > from) {
		n--;
		if (ring_count == RING_SIZE) {
			drops += n - from + 1;
			break;
		}
		ring_head = (ring_head + RING_SIZE - 1) % RING_SIZE;
		ring[ring_head] = read_buf[n];
		ring_count++;
	}
	spin_unlock_irqrestore(&ticker_lock, flags);
}

static ssize_t ticker_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	unsigned int want, n, done;
	unsigned long left;

	if (count < REC_SIZE)
		return -EINVAL;
	want = min_t(size_t, count / REC_SIZE, RING_SIZE);

	for (;;) {
		if (mutex_lock_interruptible(&read_mutex))
			return -ERESTARTSYS;
		n = ticker_take(want);
		if (n)
			break;
		mutex_unlock(&read_mutex);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(ticker_wait, ticker_has_records()))
			return -ERESTARTSYS;
	}

	left = copy_to_user(buf, read_buf, n * REC_SIZE);
	done = (n * REC_SIZE - left) / REC_SIZE;
	if (done < n)
		ticker_put_back(done, n);
	mutex_unlock(&read_mutex);

	if (!done)
		return -EFAULT;
	return done * REC_SIZE;
}

static __poll_t ticker_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &ticker_wait, wait);
	return ticker_has_records() ? EPOLLIN | EPOLLRDNORM : 0;
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
		if (period < PERIOD_MIN_MS || period > PERIOD_MAX_MS)
			return -EINVAL;
		spin_lock_irqsave(&ticker_lock, flags);
		cur_period_ms = period;
		/* takes effect now, not after the tick already scheduled at the old period */
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
		spin_lock_irqsave(&ticker_lock, flags);
		ring_head = 0;
		ring_count = 0;
		spin_unlock_irqrestore(&ticker_lock, flags);
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

	if (period_ms < PERIOD_MIN_MS || period_ms > PERIOD_MAX_MS)
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
	/* missing: stop the timer (del_timer_sync) before the module's memory goes away */
}

module_init(ticker_init);
module_exit(ticker_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Periodic timer records in a ring, read from /dev/ticker");
