/*
 * libllem's error codes, in a header of their own so that every layer of
 * the library can return them without including the public API (llem.h
 * includes this; internal layers include only this). Functions return 0 on
 * success or one of these negative codes, with a message for
 * llem_error_last() (internally error_set() / error_last(), util.h).
 */
#ifndef LLEM_ERRORS_H
#define LLEM_ERRORS_H

/* Everything a caller cannot act on differently is LLEM_ERROR. */
enum {
	LLEM_OK = 0,
	LLEM_ERROR = -1,     /* generic failure; see llem_error_last() */
	LLEM_EINVAL = -2,    /* invalid argument or configuration */
	LLEM_ENOTFOUND = -3, /* a file, model, dataset or device is missing */
	LLEM_EIO = -4,       /* reading or writing a file failed */
	LLEM_ENOTSUP = -5,   /* not supported on this machine or build */
	LLEM_EINTR = -6      /* interrupted (SIGINT) */
};

#endif
