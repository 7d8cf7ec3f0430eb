/* bnn_io.h - the io layer (src/io/): tables (CSV, .npy, gzip, .npz, synthetic sets), input
 * files, memory-mapped inputs, the table writer, every output file (bnn_outfile), model
 * files (safetensors) and the readers' and writers' shared helpers. Above core and the
 * kernels (the synthetic sets draw through the kernel table, src/io/synth.c); includes
 * nothing above.
 */
#ifndef BNN_IO_H
#define BNN_IO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/bnn_core.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Tables: rows x cols float values, one row per sample (data files, synthetic sets).          */

typedef struct bnn_table bnn_table;
struct bnn_table {
    size_t rows, cols;
    /* Direct form: when f32 != NULL, value (r, c) is f32[r * ld + c]. */
    const float *f32;
    size_t ld;
    /* Otherwise rows are produced on demand: writes rows [row0, row0 + nrows), columns
     * [col0, col0 + ncols) to out[(r - row0) * ldo + (c - col0)]. Must be thread-safe. */
    int (*read)(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                float *out, size_t ldo, bnn_error *e);
    /* Optional (NULL: none), with read: whole rows [row0, row0 + nrows) lent in place, row
     * r at the result + (r - row0) * cols, and *pin set, to give back with unpin(t, *pin)
     * once done with them; NULL (*pin NULL) when they are not in memory in one piece (then
     * read them). A windowed .npy lends the windows it read ahead. Thread-safe. */
    const float *(*borrow)(const bnn_table *t, size_t row0, size_t nrows, void **pin);
    void (*unpin)(const bnn_table *t, void *pin);
    void *ctx;
    void (*close)(bnn_table *t); /* frees ctx and what it owns; may be NULL */
    char name[512];              /* file name or synth:NAME, for messages */
    char delimiter;              /* a CSV's field separator (',', '\t' or ';'); 0 otherwise */
    int header_skipped;          /* 1 when the CSV's first row was a header */
};

void bnn_table_close(bnn_table *t);
/* t becomes a table over data (rows x cols float32, row-major, from bnn_alloc), which it owns
 * and frees when closed; the other fields (name, ...) are the caller's to set. */
void bnn_table_own_f32(bnn_table *t, float *data, size_t rows, size_t cols);
/* Reads values (as above) whatever the form of t. */
int bnn_table_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                   float *out, size_t ldo, bnn_error *e);

/* Data files (src/io/csv.c, src/io/npy.c, src/io/archive.c). bnn_table_open picks the reader
 * from the contents (.npy magic, gzip 1f 8b, zip "PK\3\4"; the extension only refuses a file
 * named .npy/.npz/.gz that is not one). gzip: a CSV or .npy inside. .npz: arrays x and y
 * (appended as the last columns), or "FILE.npz:NAME" for array NAME. CSV: header line optional, CRLF and UTF-8 BOM accepted,
 * every row the same number of fields, all values finite. NPY: 2-D (1-D taken as one
 * column), float32 or float64, C or Fortran order; float32 C-order is memory-mapped and
 * used in place. Errors name the file and the line and column (CSV) or the element (npy).
 * Each path is opened once; "-" is standard input. A pipe, FIFO or device is read at most
 * BATCHNN_STREAM_LIMIT bytes (environment; suffixes k, M, G; default 2G): a CSV a chunk at a
 * time, a .npy into memory. */
int bnn_table_open(bnn_table *t, const char *path, bnn_error *e);
/* "f.npz:NAME" names array NAME of f.npz, unless a file is called that: 1 with *member :=
 * NAME and file[0..n) := "f.npz"; 0 when path is not of that form. */
int bnn_npz_member_path(const char *path, char *file, size_t n, const char **member);
int bnn_table_open_csv(bnn_table *t, const char *path, bnn_error *e);
int bnn_table_open_npy(bnn_table *t, const char *path, bnn_error *e);
/* The .npy reader's scan for non-finite values, shared out: NULL (one process) scans every
 * element; under mpirun (set by bnn_dist_init) each rank scans range()'s share of the n
 * elements, and agree() gives every rank the first bad index of all (n: none). */
typedef struct bnn_scan_split {
    void (*range)(size_t n, size_t *lo, size_t *hi);
    size_t (*agree)(size_t first_bad, size_t n);
} bnn_scan_split;
extern const bnn_scan_split *bnn_npy_split;

/* What a data file looks like from this process (src/io/fingerprint.c), for ranks under
 * mpirun to compare: regular 0 for standard input ("-"), a pipe, FIFO or device (not opened,
 * not read); otherwise its size and a checksum of its bytes (whole = 1) or of 64 blocks of
 * 256 KiB spread from its first byte to its last (files over 64 MiB). */
typedef struct bnn_fingerprint {
    uint64_t regular, size, checksum, whole;
} bnn_fingerprint;
int bnn_file_fingerprint(const char *path, bnn_fingerprint *fp, bnn_error *e);

/* Memory-mapped inputs (src/io/mapped.c). The readers register every mapping of an input file
 * (a float32 .npy used in place stays mapped while the table is open). If the file is
 * truncated or rewritten meanwhile, touching the mapping raises SIGBUS; a SIGBUS handler
 * (installed by the program, not the library) can name the file with bnn_mapped_file_at.
 * register/unregister are thread-safe; bnn_mapped_file_at is async-signal-safe and returns
 * the name of the registered mapping that contains addr, or NULL. At most 64 mappings are
 * tracked at a time (further ones are simply not named). */
void bnn_mapped_register(const void *addr, size_t len, const char *name);
void bnn_mapped_unregister(const void *addr);
const char *bnn_mapped_file_at(const void *addr);

/* Streaming writer for tables: .npy (float32, C order) when the path ends in .npy, CSV
 * otherwise. Writes to a temporary name; commit syncs and renames, abort removes it. */
typedef struct bnn_table_writer bnn_table_writer;
int bnn_table_writer_open(bnn_table_writer **w, const char *path, size_t rows, size_t cols,
                          const char *csv_header /* NULL: none */, bnn_error *e);
/* rows are row-major with row stride ld. */
int bnn_table_writer_rows(bnn_table_writer *w, const float *data, size_t nrows, size_t ld,
                          bnn_error *e);
int bnn_table_writer_commit(bnn_table_writer *w, bnn_error *e);
void bnn_table_writer_abort(bnn_table_writer *w);

/* Synthetic sets (src/io/synth.c): linear, or, and, nand, xor, uniform, teacher, circle, sine.
 * nin/nout of -1 take the set's natural widths. Kept in memory when the whole table fits in
 * mem_budget bytes, otherwise generated row by row on demand. */
int bnn_synth_open(bnn_table *t, const char *name, size_t n, int64_t nin, int64_t nout,
                   uint64_t seed, size_t mem_budget, bnn_error *e);
/* Natural widths of a set (-1 where the set follows --arch). */
int bnn_synth_widths(const char *name, int64_t *nin, int64_t *nout, bnn_error *e);
const char *bnn_synth_names(void); /* "linear, or, ..." for help text */
/* Model files with metadata (src/io/safetensors_write.c, safetensors_read.c). */
/* bnn_model_save with extra __metadata__ string pairs (checkpoints: "epoch", ...). */
int bnn_model_save_meta(const bnn_model *m, const char *path, const char *const *keys,
                        const char *const *values, int count, bnn_error *e);
/* One __metadata__ value of a model file into buf: 0 found, 1 absent, -1 error. */
int bnn_model_read_meta(const char *path, const char *key, char *buf, size_t len, bnn_error *e);
/* ------------------------------------------------------------------------------------------ */
/* Files: every output goes through bnn_outfile (src/io/outfile.c has the rules): "-" is
 * standard output; a character device, FIFO or socket is written directly; a regular file
 * (or a new path) is written to a temporary name beside it, fsync'd and renamed over it,
 * keeping its mode; a symlink is followed and its target replaced; a directory, a block
 * device or a read-only file is refused.                                                      */

typedef struct bnn_outfile {
    void *fp;     /* FILE * */
    char *tmp;    /* the temporary name, NULL when written directly */
    char *path;   /* as given, for messages */
    char *target; /* where it lands (links followed); NULL for standard output */
    int direct;   /* written directly: standard output, device, FIFO, socket, in-place log */
    int regular;  /* a regular file (temporary or in place) */
    int is_stdout;
    int slot;     /* registry slot of tmp (-1: none) */
} bnn_outfile;
/* Applies the rules without creating or opening anything (checks before long work). */
int bnn_outfile_check(const char *path, bnn_error *e);
int bnn_outfile_open(bnn_outfile *o, const char *path, bnn_error *e);
/* For logs: a regular file is opened in place (created if missing, not truncated: the caller
 * positions and truncates it) and locked (flock, exclusive): a file another process holds is
 * refused, naming its pid when it can be found. The other kinds as bnn_outfile_open. */
int bnn_outfile_open_inplace(bnn_outfile *o, const char *path, bnn_error *e);
int bnn_outfile_commit(bnn_outfile *o, bnn_error *e);
void bnn_outfile_abort(bnn_outfile *o);
/* Removes every temporary file still open (async-signal-safe: for signal handlers, atexit). */
void bnn_outfile_remove_temps(void);

/* Which file a path names: (dev, ino) when it exists (links followed), else name, the
 * resolved directory plus the name a new file would get (malloc'd). */
typedef struct bnn_path_id {
    int exists;
    unsigned long long dev, ino;
    unsigned mode;
    char *name;
} bnn_path_id;
int bnn_path_identity(const char *path, bnn_path_id *id, bnn_error *e);
void bnn_path_identity_free(bnn_path_id *id);
/* 1 when a and b are the same file. */
int bnn_path_same(const bnn_path_id *a, const bnn_path_id *b);

/* Set (to the signal number) by the command when a stop signal arrived: readers blocked on
 * a pipe or FIFO then fail at once instead of retrying (the library installs no handler). */
extern volatile sig_atomic_t bnn_stop_requested;
/* ---------------------------------------------------------------------------------------- */
/* Input files (src/io/table.c)                                                                 */

/* Environment variable that sets the stream limit, and its default (2 GiB). */
#define BNN_STREAM_LIMIT_ENV "BATCHNN_STREAM_LIMIT"
#define BNN_STREAM_LIMIT_DEFAULT ((size_t)2 << 30)

/* The name used in messages for standard input (path "-"). */
#define BNN_STDIN_NAME "<stdin>"

/*
 * An input opened once, whatever it is: a regular file, or a stream (pipe, FIFO, character
 * device, socket, standard input as "-"). Readers look at the first bytes (bnn_input_peek)
 * to choose a format, then take the whole contents (bnn_input_contents), which start with
 * those same bytes: nothing is read twice and nothing is lost, so a FIFO works.
 */
typedef struct bnn_input {
    const char *name;       /* for messages: the path, or BNN_STDIN_NAME */
    int fd;                 /* -1 when closed */
    struct stat st;
    int mappable;           /* a regular file, from its start: mapped, not read */
    unsigned char head[16]; /* bytes already read from fd (streams: consumed from it) */
    size_t nhead;
    void *mem;              /* an input made in memory (bnn_input_from_memory): its bytes */
    size_t memlen;          /* (fd -1; bnn_input_contents hands mem over) */
} bnn_input;

/* The whole contents of an input: a read-only mapping (regular files; registered with
 * bnn_mapped_register under the input's name) or a heap copy (streams, and files that
 * cannot be mapped). Not NUL-terminated. */
typedef struct bnn_bytes {
    const unsigned char *p;
    size_t len;
    void *map;  /* mmap base (length len), or NULL */
    void *heap; /* malloc'ed copy, or NULL */
} bnn_bytes;

/* Opens path ("-": standard input) read-only, close-on-exec, and fstats it, refusing a
 * directory: 0, or -1 with "PATH: cannot open: <reason>" in e. */
int bnn_input_open(bnn_input *in, const char *path, bnn_error *e);
/* Reads until in->nhead >= n (n <= sizeof in->head) or the end of the input: 0 or -1. */
int bnn_input_peek(bnn_input *in, size_t n, bnn_error *e);
/* Maps (regular file) or reads (anything else, at most the stream limit) the whole input
 * into *b: 0 or -1. A mapping is advised MADV_SEQUENTIAL. The input stays open. */
int bnn_input_contents(bnn_input *in, bnn_bytes *b, bnn_error *e);
void bnn_input_close(bnn_input *in);
/* An input over len bytes at mem (malloc'ed; the input owns them), named name (kept, not
 * copied): bytes in memory handed to a reader as an input. */
void bnn_input_from_memory(bnn_input *in, const char *name, void *mem, size_t len);
/* Opens a gzip file (CSV or .npy inside) or a .npz archive (numpy's zip of .npy arrays) whose
 * first bytes are in in->head (src/io/archive.c): the member(s) are decompressed as a stream
 * into the CSV or .npy reader (bnn_csv_from_pull, bnn_npy_from_pull), each table at most the
 * stream limit, and read as a table named "PATH (gzip of CSV)" etc. member: the .npz array
 * to read (NULL: "x", then "y" appended as its last columns when present). */
int bnn_table_open_gzip(bnn_table *t, bnn_input *in, bnn_error *e);
int bnn_table_open_npz(bnn_table *t, bnn_input *in, const char *member, bnn_error *e);
/* Unmaps (and unregisters) or frees b, and zeroes it. */
void bnn_bytes_free(bnn_bytes *b);

/* The stream limit: the text last given to bnn_stream_limit_set (bytes, or a whole number
 * with a suffix k, M or G for KiB, MiB, GiB; at least 1), or 2 GiB when none (NULL or "").
 * The command passes its BATCHNN_STREAM_LIMIT; the text is checked where it is used, so an
 * error names the input: 0, or -1 with "NAME: BATCHNN_STREAM_LIMIT=... ..." in e. */
int bnn_stream_limit(size_t *limit, const char *name, bnn_error *e);
void bnn_stream_limit_set(const char *text);

/* The CSV and .npy readers on an open input (bnn_table_open sniffs, then calls one). They
 * take the input's contents but do not close it. */
int bnn_csv_from_input(bnn_table *t, bnn_input *in, bnn_error *e);
int bnn_npy_from_input(bnn_table *t, bnn_input *in, bnn_error *e);

/*
 * A pull source: bytes handed out in order, a few at a time, so a reader never needs the
 * whole input (a stream's text, a gzip's decompressed data, an .npz member) at once.
 * read puts up to n (> 0) bytes into buf and returns how many, 0 at the end, or -1 with
 * the message in e. name is for messages.
 */
typedef struct bnn_pull bnn_pull;
struct bnn_pull {
    const char *name;
    long long (*read)(bnn_pull *s, void *buf, size_t n, bnn_error *e);
    void *ctx;               /* the source's own state */
    bnn_input *in;           /* bnn_pull_input: the input */
    const unsigned char *mem; /* bnn_pull_memory: the bytes */
    size_t done, len, limit; /* bytes handed out; mem's length; the stream limit */
    int mapped;              /* bnn_pull_memory: mem is a file mapping (bnn_bytes.map) */
    size_t released;         /* ...whose pages before this offset were released */
};
/* A pull over an input: its bytes from the start (the peeked ones first). A stream (pipe,
 * FIFO, standard input) hands out at most the stream limit, then fails with the message
 * bnn_input_contents gives past it; a regular file or an input made in memory must be taken
 * with bnn_input_contents instead (and then pulled with bnn_pull_memory). */
int bnn_pull_input(bnn_pull *s, bnn_input *in, bnn_error *e);
/* A pull over p[0..len) (not owned), named name. mapped: p is a read-only file mapping
 * (bnn_bytes.map), whose pages are released (bnn_mapped_release) as they are handed out. */
void bnn_pull_memory(bnn_pull *s, const char *name, const void *p, size_t len, int mapped);
/* Releases the whole pages of the read-only file mapping at base between offsets *released
 * and upto (MADV_DONTNEED: out of this process's memory, still in the page cache; never
 * touched again), and sets *released to the end of the last page released. Only for a
 * mapping read front to back: touching a page again reads it again from the file. */
void bnn_mapped_release(const void *base, size_t *released, size_t upto);
/* The CSV reader on a pull source (a gzip's text): the rules of bnn_table_open_csv, the
 * text read in chunks (never whole), the table at most limit bytes (4 per value) and no line
 * longer than limit bytes; messages name name. size_hint: the text's length if known or
 * guessed (0: not), only to size the table. */
int bnn_csv_from_pull(bnn_table *t, bnn_pull *src, const char *name, size_t limit,
                      size_t size_hint, bnn_error *e);
/* For tests: the CSV reader's chunk (bytes read and parsed at a time; 0: the default,
 * 1 MiB). A tiny chunk puts chunk boundaries everywhere in a small file. */
void bnn_csv_chunk_set(size_t bytes);
/* The .npy reader on a pull source (a gzip's or an .npz member's data): the header from the
 * first bytes, then the data converted straight into a float32 table of at most limit
 * bytes; the rules and messages of bnn_npy_from_input, under name. */
int bnn_npy_from_pull(bnn_table *t, bnn_pull *src, const char *name, size_t limit,
                      bnn_error *e);
/* For tests: every regular .npy file opened from now on is read in windows (on: 1), as one
 * larger than half of the memory, or of the address space left under ulimit -v, is (0: only
 * those). */
void bnn_npy_force_windows(int on);
/* For tests: the windows the read-ahead of a windowed float32 .npy opened from now on reads
 * (npy_ahead.c) are this many bytes (one row's bytes: a window of one sample); 0: the
 * default, 4 MiB. */
void bnn_npy_ahead_window(size_t bytes);

/* ---------------------------------------------------------------------------------------- */
/* Models (src/io/safetensors_read.c)                                                           */

/* bnn_model_load, and a note for the user in note[0..note_len) (empty when there is none):
 * today, that the tensors were named as an nn.Sequential's state_dict (0.weight, 2.weight,
 * ...) and how they were mapped to layers. The caller prints it (on stderr). */
int bnn_model_load_note(bnn_model *m, const char *path, const char *acts_fallback, char *note,
                        size_t note_len, bnn_error *e);
/* ---------------------------------------------------------------------------------------- */
/* Helpers shared by the readers and writers (src/io/ioutil.c)                                  */

/* 1 when the host stores integers and floats little-endian (the byte order of .npy '<f4',
 * safetensors and checkpoints), 0 otherwise; a compile-time constant. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BNN_HOST_LE 0
#else
#define BNN_HOST_LE 1
#endif

/* A pull's read of bytes peeked before it started: up to n of head[*pos..nhead) into buf,
 * *pos advanced; 0 once they are all handed out (then the source's own bytes follow). */
size_t bnn_take_peeked(const unsigned char *head, size_t nhead, size_t *pos, void *buf,
                       size_t n);
/* The `bytes` (1..8) bytes at p as a little-endian unsigned integer, and the reverse. */
uint64_t bnn_get_le(const void *p, int bytes);
void bnn_put_le(void *p, uint64_t v, int bytes);

/* text[0..n) for a one-line message: in double quotes, '"' and '\\' escaped with a
 * backslash, bytes outside printable ASCII as \xNN, at most maxin input bytes and what fits
 * in cap (>= 16), followed by "..." when cut. Returns out. */
const char *bnn_quote(char *out, size_t cap, const void *text, size_t n, size_t maxin);

/* A string read from a file, for printing: s itself when it is well-formed UTF-8 without
 * control characters, else bnn_quote's escaped form in out (cut to fit cap). */
const char *bnn_printable(char *out, size_t cap, const char *s);
/* Writes exactly what snprintf(out, 32, "%.9g", f) writes for a finite float32 (checked for all
 * 2^32 patterns by tests/fmt_g9_check.c), without printf; returns the length (< 32). */
int bnn_fmt_g9(char *out, float f);

/* bnn_fail with "PATH: " before the formatted message; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bnn_fail_file(bnn_error *e, const char *path, const char *fmt, ...);

/* Does path end in ".npy" (any case)? The table writer and bnn_table_open decide by it. */
int bnn_path_is_npy(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* BNN_IO_H */
