/* lib/fileio.c — atomic file replacement (see fp4kit/safetensors.h, "Atomic file writes").
 *
 * Protocol: create "<path>.tmp.<pid>" exclusively in the target's directory, write, fflush,
 * fsync, fclose, rename(tmp, path), then fsync the directory so the rename itself is durable.
 * rename() within one directory is atomic on POSIX file systems: a reader sees the old file or
 * the new one, never a mixture. Any failure removes the temp file and leaves path untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp4kit/safetensors.h"
#include "internal.h"

static void af_release(fp4_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

fp4_status fp4_atomic_open(fp4_atomic_file *af, const char *path) {
    if (!af) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_atomic_open: af is NULL");
    memset(af, 0, sizeof *af);
    if (!path || !*path) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_atomic_open: path is NULL or empty");
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp_path = malloc(n + 32);
    if (!af->path || !af->tmp_path) {
        af_release(af);
        return fp4_fail(FP4_ERR_NOMEM, "fp4_atomic_open: out of memory for the path of %zu bytes", n);
    }
    memcpy(af->path, path, n + 1);
    snprintf(af->tmp_path, n + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        fp4_status st = fp4_fail(FP4_ERR_IO, "cannot create temporary file '%s' for '%s': %s%s", af->tmp_path, path,
                                 strerror(e), e == EEXIST ? " (left over from a crashed run? remove it)" : "");
        af_release(af);
        return st;
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        fp4_status st = fp4_fail(FP4_ERR_IO, "fdopen of '%s' failed: %s", af->tmp_path, strerror(e));
        af_release(af);
        return st;
    }
    return FP4_OK;
}

fp4_status fp4_atomic_write(fp4_atomic_file *af, const void *data, size_t bytes) {
    if (!af || !af->fp) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_atomic_write: file is not open");
    if (bytes == 0) return FP4_OK;
    if (!data) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_atomic_write: data is NULL for %zu bytes", bytes);
    long pos = ftell(af->fp);
    size_t w = fwrite(data, 1, bytes, af->fp);
    if (w != bytes) {
        int e = errno;
        af->failed = 1;
        return fp4_fail(FP4_ERR_IO, "write to '%s' failed at byte offset %lld (%zu of %zu bytes written): %s",
                        af->tmp_path, (long long)pos + (long long)w, w, bytes, strerror(e));
    }
    return FP4_OK;
}

void fp4_atomic_abort(fp4_atomic_file *af) {
    if (!af) return;
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    af_release(af);
}

/* fsync the directory holding path (best effort is not enough for durability, so report). */
static fp4_status fsync_parent_dir(const char *path) {
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return fp4_fail(FP4_ERR_NOMEM, "out of memory for a directory name of %zu bytes", n);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fp4_status st = FP4_OK;
    if (fd < 0) st = fp4_fail(FP4_ERR_IO, "cannot open directory '%s' to sync it: %s", dir, strerror(errno));
    else {
        /* Some file systems refuse fsync on directories (EINVAL): the rename already happened. */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            st = fp4_fail(FP4_ERR_IO, "fsync of directory '%s' failed: %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

fp4_status fp4_atomic_commit(fp4_atomic_file *af) {
    if (!af || !af->fp) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_atomic_commit: file is not open");
    fp4_status st = FP4_OK;
    if (af->failed) st = fp4_fail(FP4_ERR_IO, "'%s' not written: an earlier write to '%s' failed", af->path, af->tmp_path);
    if (st == FP4_OK && (fflush(af->fp) != 0 || ferror(af->fp)))
        st = fp4_fail(FP4_ERR_IO, "writing '%s' failed: %s", af->tmp_path, strerror(errno));
    if (st == FP4_OK && fsync(fileno(af->fp)) != 0)
        st = fp4_fail(FP4_ERR_IO, "fsync of '%s' failed: %s", af->tmp_path, strerror(errno));
    int rc = fclose(af->fp);
    af->fp = NULL;
    if (st == FP4_OK && rc != 0) st = fp4_fail(FP4_ERR_IO, "closing '%s' failed: %s", af->tmp_path, strerror(errno));
    if (st == FP4_OK && rename(af->tmp_path, af->path) != 0)
        st = fp4_fail(FP4_ERR_IO, "cannot rename '%s' to '%s': %s", af->tmp_path, af->path, strerror(errno));
    if (st != FP4_OK) {
        unlink(af->tmp_path);
        af_release(af);
        return st;
    }
    st = fsync_parent_dir(af->path);
    af_release(af);
    return st;
}
