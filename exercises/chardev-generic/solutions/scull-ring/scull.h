/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scull.h: definitions for scullring, a scull-like pair of ring-buffer
 * char devices (/dev/scullring0, /dev/scullring1).
 */
#ifndef _SCULL_RING_H_
#define _SCULL_RING_H_

#include <linux/cdev.h>
#include <linux/mutex.h>
#include <linux/types.h>

#define SCULL_NAME       "scullring"
#define SCULL_NR_DEVS    2
#define SCULL_RING_SIZE  8192 /* bytes of storage per device */

/*
 * One ring per device.  'head' is where the next byte is written, 'tail'
 * where the next byte is read, 'used' how many bytes are stored (so a full
 * ring and an empty ring can be told apart).  All of it, and the buffer,
 * is protected by 'lock'.
 */
struct scull_dev {
	struct mutex lock;
	char *data;
	size_t head;
	size_t tail;
	size_t used;
	struct cdev cdev;
	struct device *device;
	bool cdev_added;
};

#endif /* _SCULL_RING_H_ */
