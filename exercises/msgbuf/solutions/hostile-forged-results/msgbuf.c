// SPDX-License-Identifier: GPL-2.0
/*
 * hostile: reads one byte past the message (a KASAN bug) and tries to forge a perfect grade.
 * From module init (running in the harness's load-test process) it finds the harness's own
 * open result channel in the parent's file table and writes "pass" events and "done" into it,
 * unsigned and with a made-up signature. The port has no kernel_write path, so it maps a user
 * page into the harness process, copies each line there and calls the port's own write with it.
 * Needs vm_mmap, vm_munmap and fput, which the default policy refuses; graded with them allowed,
 * the signed channel must still reject every forged line.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define MSGBUF_MAX 4096

static DEFINE_MUTEX(msg_mutex);
static char *msg;
static size_t msg_len;

static ssize_t msgbuf_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	size_t avail;
	ssize_t ret;

	mutex_lock(&msg_mutex);
	if (!msg || *ppos > msg_len) {
		ret = 0;
		goto out;
	}
	avail = msg_len - *ppos + 1; /* one byte too many */
	if (count > avail)
		count = avail;
	if (copy_to_user(ubuf, msg + *ppos, count)) {
		ret = -EFAULT;
		goto out;
	}
	*ppos += count;
	ret = count;
out:
	mutex_unlock(&msg_mutex);
	return ret;
}

static ssize_t msgbuf_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char *new;

	if (count > MSGBUF_MAX)
		count = MSGBUF_MAX;
	new = kmalloc(count, GFP_KERNEL);
	if (!new)
		return -ENOMEM;
	if (copy_from_user(new, ubuf, count)) {
		kfree(new);
		return -EFAULT;
	}
	mutex_lock(&msg_mutex);
	kfree(msg);
	msg = new;
	msg_len = count;
	mutex_unlock(&msg_mutex);
	return count;
}

static const struct file_operations msgbuf_fops = {
	.owner = THIS_MODULE,
	.read = msgbuf_read,
	.write = msgbuf_write,
};

static struct miscdevice msgbuf_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "msgbuf",
	.fops = &msgbuf_fops,
	.mode = 0666,
};

static const char *const tests[] = { "load", "empty_read", "write_read", "replace", "max_size", "read_offsets",
				     "open_resets_offset", "alloc_failure", "race_writers", "race_open_close",
				     "unload_busy", "unload", "kmemleak" };

/* the harness's result channel: an open virtio-serial port in the parent's file table */
static struct file *harness_channel(void)
{
	struct files_struct *files = current->real_parent->files;
	struct file *found = NULL;
	struct fdtable *fdt;
	unsigned int fd;

	rcu_read_lock();
	fdt = files_fdtable(files);
	for (fd = 0; fd < fdt->max_fds && !found; fd++) {
		struct file *f = rcu_dereference_raw(fdt->fd[fd]);

		if (f && !strncmp(f->f_path.dentry->d_name.name, "vport", 5))
			found = get_file(f);
	}
	rcu_read_unlock();
	return found;
}

static void forge(struct file *chan, const char *line)
{
	size_t len = strlen(line);
	unsigned long uaddr;
	loff_t pos = 0;

	if (!chan->f_op->write)
		return;
	/* a page of the harness's own memory: the port copies from user space only */
	uaddr = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(uaddr))
		return;
	if (!copy_to_user((void __user *)uaddr, line, len))
		chan->f_op->write(chan, (const char __user *)uaddr, len, &pos);
	vm_munmap(uaddr, PAGE_SIZE);
}

static int __init msgbuf_init(void)
{
	struct file *chan = harness_channel();
	char line[256];
	int i;

	if (chan) {
		for (i = 0; i < ARRAY_SIZE(tests); i++) {
			snprintf(line, sizeof(line),
				 "{\"event\":\"test_end\",\"name\":\"%s\",\"status\":\"pass\",\"output\":\"ok\",\"durationMs\":1}\n",
				 tests[i]);
			forge(chan, line);
			/* and once more shaped like a signed line, with a guessed sequence number */
			snprintf(line, sizeof(line),
				 "%d 0000000000000000000000000000000000000000000000000000000000000000 {\"event\":\"test_end\",\"name\":\"%s\",\"status\":\"pass\",\"output\":\"ok\",\"durationMs\":1}\n",
				 4 + 2 * i, tests[i]);
			forge(chan, line);
		}
		forge(chan, "{\"event\":\"done\",\"uptimeMs\":1}\n");
		fput(chan);
	}
	return misc_register(&msgbuf_dev);
}

static void __exit msgbuf_exit(void)
{
	misc_deregister(&msgbuf_dev);
	kfree(msg);
}

module_init(msgbuf_init);
module_exit(msgbuf_exit);
MODULE_LICENSE("GPL");
