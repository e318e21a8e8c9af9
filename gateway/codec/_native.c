/*
 * gateway.codec._native: the codec's hot path in C (README, Codec).
 *
 * encode() and analyze() here give exactly what the pure-Python reference
 * (gateway/codec/general.py, analysis.py) gives: the same alphabet choice
 * (plain GSM 7-bit, UCS-2, national shift tables), the same segment ends
 * (an escape pair or a surrogate pair is never split), the same headers,
 * septet packing with fill bits and the same Segment / Analysis tuples.
 * tests/codec/test_native.py proves it on random texts.
 *
 * Whatever this module cannot answer exactly (a str subclass, a bad option,
 * a NUL or a lone surrogate, an unencodable character, more than 255
 * segments, a reference out of range...) is passed, with the arguments as
 * given, to the reference function, so that every error comes from one
 * implementation.
 *
 * The alphabets are not written here: gateway/codec/native.py builds them
 * from gateway/codec/alphabet.py and hands them over with configure().
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define USER_DATA 140     /* octets of TP-UD in one SMS */
#define MAX_SEGMENTS 255
#define ESCAPE 0x1B
#define UDHI 0x40
#define NO_SEPTET 0xFFFF  /* map entry: the character is not in this table */
#define EXTENDED 0x100    /* map entry flag: escape, then the low 7 bits */
#define MAX_TABLES 16
#define STACK_UNITS 2048  /* data buffers on the stack up to this size */

enum concat { UDH8, UDH16, SAR, PAYLOAD };
static const int CONCAT_IE[] = {5, 6, 5, 5};

typedef struct {
    PyObject *map_owner;  /* bytes: uint16 per code point below map_size */
    const uint16_t *map;
    Py_ssize_t map_size;
    PyObject *ies;        /* bytes: national elements (0, 3 or 6 octets) */
    int ie_count;
    PyObject *locking;    /* str or None */
    PyObject *single;
} Table;

static Table tables[MAX_TABLES];
static int table_count;
static PyTypeObject *segment_type;
static PyTypeObject *analysis_type;
static PyTypeObject *message_class_type;
static PyObject *encode_reference;
static PyObject *analyze_reference;
static PyObject *national_candidates; /* dict: tuple of codes -> tuple of table indices */
static PyObject *class_codings;       /* dict: class -> (gsm7 dcs, ucs2 dcs) */
static PyObject *str_gsm7, *str_ucs2, *str_udh8, *str_udh16, *str_sar, *str_payload;
static PyObject *kw_concat, *kw_reference, *kw_packed, *kw_encoding, *kw_msg_class,
    *kw_national;
static PyObject *empty_bytes;
static int configured;

/* A plan: the chosen alphabet, its data, where the segments end. */
typedef struct {
    int ucs2;
    int table;            /* index into tables; -1 for UCS-2 */
    uint8_t *data;        /* septets (one per octet) or UTF-16-BE */
    Py_ssize_t size;
    Py_ssize_t ends[MAX_SEGMENTS + 1];
    int count;            /* segments; MAX_SEGMENTS + 1 means "more" */
    int single;           /* one segment without a concatenation element */
    Py_ssize_t capacity;  /* octets of data per segment */
} Plan;

static int
udh_length(int single, enum concat concat, int ies)
{
    int octets = 3 * ies + (single ? 0 : CONCAT_IE[concat]);
    return octets ? octets + 1 : 0;
}

static Py_ssize_t
capacity(int ucs2, int udh_len)
{
    int room = USER_DATA - udh_len;
    return ucs2 ? (room & ~1) : room * 8 / 7;
}

/* Segment ends of data, as plan.cut; stops counting past MAX_SEGMENTS. */
static void
plan_cut(Plan *p, enum concat concat, int ies)
{
    Py_ssize_t single = capacity(p->ucs2, udh_length(1, concat, ies));
    if (p->size <= single) {
        p->ends[0] = p->size;
        p->count = 1;
        p->single = 1;
        p->capacity = single;
        return;
    }
    Py_ssize_t cap = capacity(p->ucs2, udh_length(0, concat, ies));
    Py_ssize_t start = 0;
    int count = 0;
    p->single = 0;
    p->capacity = cap;
    for (;;) {
        Py_ssize_t end = start + cap;
        if (count == MAX_SEGMENTS) {  /* one more at least: too long */
            p->count = MAX_SEGMENTS + 1;
            return;
        }
        if (end >= p->size) {
            p->ends[count++] = p->size;
            p->count = count;
            return;
        }
        if (p->ucs2) {
            if (p->data[end - 2] >= 0xD8 && p->data[end - 2] <= 0xDB)
                end -= 2;  /* a high surrogate: keep the pair together */
        }
        else if (p->data[end - 1] == ESCAPE) {
            end -= 1;      /* an escape: keep the pair together */
        }
        p->ends[count++] = end;
        start = end;
    }
}

/* Septets of the text in one table; -1 when a character is not in it. */
static Py_ssize_t
to_septets(int kind, const void *text, Py_ssize_t n, const Table *t, uint8_t *out)
{
    const uint16_t *map = t->map;
    Py_ssize_t limit = t->map_size, o = 0;
#define MAP_LOOP(TYPE)                                              \
    for (Py_ssize_t i = 0; i < n; i++) {                            \
        Py_UCS4 c = ((const TYPE *)text)[i];                        \
        uint16_t v;                                                 \
        if (c >= (Py_UCS4)limit || (v = map[c]) == NO_SEPTET)       \
            return -1;                                              \
        if (v & EXTENDED) {                                         \
            out[o++] = ESCAPE;                                      \
            out[o++] = (uint8_t)(v & 0x7F);                         \
        }                                                           \
        else {                                                      \
            out[o++] = (uint8_t)v;                                  \
        }                                                           \
    }
    switch (kind) {
    case PyUnicode_1BYTE_KIND: MAP_LOOP(Py_UCS1) break;
    case PyUnicode_2BYTE_KIND: MAP_LOOP(Py_UCS2) break;
    default: MAP_LOOP(Py_UCS4) break;
    }
#undef MAP_LOOP
    return o;
}

/* UTF-16-BE of the text; -1 for NUL or a surrogate code point (errors the
   reference raises). */
static Py_ssize_t
to_ucs2(int kind, const void *text, Py_ssize_t n, uint8_t *out)
{
    Py_ssize_t o = 0;
    if (kind == PyUnicode_2BYTE_KIND) {  /* most UCS-2 texts: no astral characters */
        /* two loops without branches, that the compiler vectorizes */
        const Py_UCS2 *units = text;
        unsigned bad = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            bad |= (units[i] == 0) | ((units[i] & 0xF800) == 0xD800);
        if (bad)
            return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            out[2 * i] = (uint8_t)(units[i] >> 8);
            out[2 * i + 1] = (uint8_t)units[i];
        }
        return 2 * n;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, text, i);
        if (c == 0 || (c >= 0xD800 && c <= 0xDFFF))
            return -1;
        if (c < 0x10000) {
            out[o++] = (uint8_t)(c >> 8);
            out[o++] = (uint8_t)c;
        }
        else {
            Py_UCS4 high = 0xD800 + ((c - 0x10000) >> 10);
            Py_UCS4 low = 0xDC00 + ((c - 0x10000) & 0x3FF);
            out[o++] = (uint8_t)(high >> 8);
            out[o++] = (uint8_t)high;
            out[o++] = (uint8_t)(low >> 8);
            out[o++] = (uint8_t)low;
        }
    }
    return o;
}

/* The reference's plan(): 1 planned, 0 pass to the reference, -1 error.
   buf_a and buf_b hold 4 * n octets each; p->data ends in one of them. */
static int
make_plan(PyObject *text, int forced, enum concat concat, PyObject *national,
          uint8_t *buf_a, uint8_t *buf_b, Plan *p)
{
    int kind = PyUnicode_KIND(text);
    const void *chars = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);

    if (forced == 2) {  /* "ucs2" */
        p->ucs2 = 1;
        p->table = -1;
        p->data = buf_a;
        if ((p->size = to_ucs2(kind, chars, n, buf_a)) < 0)
            return 0;
        plan_cut(p, concat, 0);
        return 1;
    }
    int have = 0;
    Py_ssize_t size = to_septets(kind, chars, n, &tables[0], buf_a);
    if (size >= 0) {
        p->ucs2 = 0;
        p->table = 0;
        p->data = buf_a;
        p->size = size;
        plan_cut(p, concat, 0);
        if (national == NULL || p->single)
            return 1;
        have = 1;
    }
    else if (forced == 0) {  /* automatic: UCS-2 unless a national table does better */
        p->ucs2 = 1;
        p->table = -1;
        p->data = buf_a;
        if ((p->size = to_ucs2(kind, chars, n, buf_a)) < 0)
            return 0;
        plan_cut(p, concat, 0);
        have = 1;
    }
    if (national != NULL) {
        Py_ssize_t count = PyTuple_GET_SIZE(national);
        /* the candidate is mapped into the buffer the best plan does not use */
        uint8_t *spare = have ? (p->data == buf_a ? buf_b : buf_a) : buf_b;
        for (Py_ssize_t i = 0; i < count; i++) {
            long index = PyLong_AsLong(PyTuple_GET_ITEM(national, i));
            if (index < 1 || index >= table_count) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_SystemError, "codec: bad national table index");
                return -1;
            }
            const Table *t = &tables[index];
            Py_ssize_t got = to_septets(kind, chars, n, t, spare);
            if (got < 0)
                continue;
            Plan candidate;
            candidate.ucs2 = 0;
            candidate.table = (int)index;
            candidate.data = spare;
            candidate.size = got;
            plan_cut(&candidate, concat, t->ie_count);
            if (!have || candidate.count < p->count) {  /* ties keep the earlier one */
                uint8_t *freed = have ? p->data : (spare == buf_a ? buf_b : buf_a);
                memcpy(p, &candidate, sizeof(Plan));
                spare = freed;
                have = 1;
            }
        }
    }
    return have;
}

/* Septets (one per octet) packed after fill_bits zero bits. */
static PyObject *
pack(const uint8_t *septets, Py_ssize_t n, int fill_bits)
{
    if (n == 0)
        return Py_NewRef(empty_bytes);
    Py_ssize_t size = (7 * n + fill_bits + 7) >> 3;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        return NULL;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    uint32_t acc = 0;
    int bits = fill_bits;
    for (Py_ssize_t i = 0; i < n; i++) {
        acc |= (uint32_t)(septets[i] & 0x7F) << bits;
        bits += 7;
        if (bits >= 8) {
            *o++ = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
    if (bits > 0)
        *o++ = (uint8_t)acc;
    return out;
}

static PyObject *
new_segment(long dcs, PyObject *udh, PyObject *payload, int ucs2, int packed,
            Py_ssize_t udl, PyObject *sar)
{
    /* payload, udh and sar are stolen (sar may be NULL for None) */
    PyObject *seg = segment_type->tp_alloc(segment_type, 8);
    PyObject *coding = PyLong_FromLong(dcs);
    PyObject *length = PyLong_FromSsize_t(udl);
    if (seg == NULL || coding == NULL || length == NULL || payload == NULL || udh == NULL) {
        Py_XDECREF(seg);
        Py_XDECREF(coding);
        Py_XDECREF(length);
        Py_XDECREF(payload);
        Py_XDECREF(udh);
        Py_XDECREF(sar);
        return NULL;
    }
    PyTuple_SET_ITEM(seg, 0, coding);
    PyTuple_SET_ITEM(seg, 1, PyLong_FromLong(PyBytes_GET_SIZE(udh) ? UDHI : 0));
    PyTuple_SET_ITEM(seg, 2, udh);
    PyTuple_SET_ITEM(seg, 3, payload);
    PyTuple_SET_ITEM(seg, 4, Py_NewRef(ucs2 ? str_ucs2 : str_gsm7));
    PyTuple_SET_ITEM(seg, 5, Py_NewRef(packed ? Py_True : Py_False));
    PyTuple_SET_ITEM(seg, 6, length);
    PyTuple_SET_ITEM(seg, 7, sar != NULL ? sar : Py_NewRef(Py_None));
    if (PyTuple_GET_ITEM(seg, 1) == NULL) {
        Py_DECREF(seg);
        return NULL;
    }
    return seg;
}

/* One segment's payload and TP-UDL, given its header length. */
static PyObject *
chunk_segment(long dcs, PyObject *udh, const Plan *p, Py_ssize_t start, Py_ssize_t end,
              int packed, PyObject *sar)
{
    Py_ssize_t udh_len = PyBytes_GET_SIZE(udh);
    const uint8_t *chunk = p->data + start;
    Py_ssize_t n = end - start;
    if (p->ucs2)
        return new_segment(dcs, udh, PyBytes_FromStringAndSize((const char *)chunk, n),
                           1, 0, udh_len + n, sar);
    Py_ssize_t udh_septets = udh_len ? (udh_len * 8 + 6) / 7 : 0;
    PyObject *payload;
    if (packed)
        payload = pack(chunk, n, udh_len ? (int)((7 - (udh_len * 8) % 7) % 7) : 0);
    else
        payload = PyBytes_FromStringAndSize((const char *)chunk, n);
    return new_segment(dcs, udh, payload, 0, packed, udh_septets + n, sar);
}

static int
same(PyObject *a, PyObject *b)
{
    return a == b || (PyUnicode_CheckExact(a) && PyUnicode_Compare(a, b) == 0);
}

/* concat option: 1 and *out set, or 0 for "not ours". */
static int
read_concat(PyObject *value, enum concat *out)
{
    if (value == NULL) {
        *out = UDH8;
        return 1;
    }
    if (!PyUnicode_CheckExact(value))
        return 0;
    if (same(value, str_udh8)) *out = UDH8;
    else if (same(value, str_udh16)) *out = UDH16;
    else if (same(value, str_sar)) *out = SAR;
    else if (same(value, str_payload)) *out = PAYLOAD;
    else return 0;
    return 1;
}

/* encoding option: 0 automatic, 1 gsm7, 2 ucs2, -1 not ours */
static int
read_encoding(PyObject *value)
{
    if (value == NULL || value == Py_None)
        return 0;
    if (!PyUnicode_CheckExact(value))
        return -1;
    if (same(value, str_gsm7))
        return 1;
    if (same(value, str_ucs2))
        return 2;
    return -1;
}

/* national option: 1 with *out the candidate tuple (NULL for none), 0 not ours */
static int
read_national(PyObject *value, PyObject **out)
{
    *out = NULL;
    if (value == NULL)
        return 1;
    if (PyTuple_CheckExact(value) || PyList_CheckExact(value)) {
        if (PySequence_Fast_GET_SIZE(value) == 0)
            return 1;
        PyObject *key = PyList_CheckExact(value) ? PyList_AsTuple(value) : Py_NewRef(value);
        if (key == NULL) {
            PyErr_Clear();
            return 0;
        }
        PyObject *found = PyDict_GetItemWithError(national_candidates, key);
        Py_DECREF(key);
        if (found == NULL) {
            PyErr_Clear();
            return 0;
        }
        *out = found;  /* borrowed: the dict lives as long as the module */
        return 1;
    }
    return 0;
}

/* msg_class option: 1 and the two codings, or 0 not ours */
static int
read_class(PyObject *value, long *gsm7, long *ucs2)
{
    if (value == NULL || value == Py_None) {
        *gsm7 = 0x00;
        *ucs2 = 0x08;
        return 1;
    }
    if (!PyLong_CheckExact(value) && Py_TYPE(value) != message_class_type)
        return 0;
    PyObject *found = PyDict_GetItemWithError(class_codings, value);
    if (found == NULL) {
        PyErr_Clear();
        return 0;
    }
    *gsm7 = PyLong_AsLong(PyTuple_GET_ITEM(found, 0));
    *ucs2 = PyLong_AsLong(PyTuple_GET_ITEM(found, 1));
    return 1;
}

typedef struct {
    PyObject *text;
    PyObject *concat, *reference, *packed, *encoding, *msg_class, *national;
} Arguments;

/* Positional text plus known keywords: 1, or 0 to pass to the reference. */
static int
read_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int encoding_call,
               Arguments *a)
{
    memset(a, 0, sizeof(*a));
    if (nargs != 1 || !PyUnicode_CheckExact(args[0]))
        return 0;
    a->text = args[0];
    if (kwnames == NULL)
        return 1;
    Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        PyObject *value = args[nargs + i];
        PyObject **slot;
        if (same(name, kw_national)) slot = &a->national;
        else if (same(name, kw_encoding)) slot = &a->encoding;
        else if (same(name, kw_concat)) slot = &a->concat;
        else if (encoding_call && same(name, kw_reference)) slot = &a->reference;
        else if (encoding_call && same(name, kw_packed)) slot = &a->packed;
        else if (encoding_call && same(name, kw_msg_class)) slot = &a->msg_class;
        else return 0;
        *slot = value;
    }
    return 1;
}

static PyObject *
reference_call(PyObject *fn, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return PyObject_Vectorcall(fn, args, nargsf, kwnames);
}

/* A reference in range for the header, or 0 to pass to the reference. */
static int
read_reference(PyObject *value, long limit, long *out)
{
    if (value == NULL) {
        *out = 0;
        return 1;
    }
    if (!PyLong_CheckExact(value))
        return 0;
    int overflow = 0;
    long ref = PyLong_AsLongAndOverflow(value, &overflow);
    if (overflow || ref < 0 || ref > limit) {
        PyErr_Clear();
        return 0;
    }
    *out = ref;
    return 1;
}

static PyObject *
build_segments(const Plan *p, enum concat concat, PyObject *reference_arg, int packed,
               long gsm7_dcs, long ucs2_dcs)
{
    long dcs = p->ucs2 ? ucs2_dcs : gsm7_dcs;
    packed = packed && !p->ucs2;
    PyObject *ies = p->table >= 0 ? tables[p->table].ies : empty_bytes;
    Py_ssize_t ies_len = PyBytes_GET_SIZE(ies);
    int total = p->count;
    long reference = 0;
    PyObject *list;

    if (concat == PAYLOAD || p->single) {
        PyObject *udh;
        if (ies_len) {
            udh = PyBytes_FromStringAndSize(NULL, ies_len + 1);
            if (udh == NULL)
                return NULL;
            PyBytes_AS_STRING(udh)[0] = (char)ies_len;
            memcpy(PyBytes_AS_STRING(udh) + 1, PyBytes_AS_STRING(ies), ies_len);
        }
        else {
            udh = Py_NewRef(empty_bytes);
        }
        PyObject *seg = chunk_segment(dcs, udh, p, 0, p->size, packed, NULL);
        if (seg == NULL)
            return NULL;
        list = PyList_New(1);
        if (list == NULL) {
            Py_DECREF(seg);
            return NULL;
        }
        PyList_SET_ITEM(list, 0, seg);
        return list;
    }
    if (!read_reference(reference_arg, concat == UDH8 ? 0xFF : 0xFFFF, &reference))
        return Py_NewRef(Py_NotImplemented);
    list = PyList_New(total);
    if (list == NULL)
        return NULL;
    uint8_t head[8];
    int head_len;
    if (concat == UDH8) {
        head[0] = (uint8_t)(5 + ies_len); head[1] = 0x00; head[2] = 3;
        head[3] = (uint8_t)reference; head[4] = (uint8_t)total;
        head_len = 5;
    }
    else if (concat == UDH16) {
        head[0] = (uint8_t)(6 + ies_len); head[1] = 0x08; head[2] = 4;
        head[3] = (uint8_t)(reference >> 8); head[4] = (uint8_t)reference;
        head[5] = (uint8_t)total;
        head_len = 6;
    }
    else {  /* SAR: no concatenation element, the national ones alone */
        head[0] = (uint8_t)ies_len;
        head_len = ies_len ? 1 : 0;
    }
    PyObject *ref_obj = NULL, *total_obj = NULL;
    if (concat == SAR) {
        ref_obj = PyLong_FromLong(reference);
        total_obj = PyLong_FromLong(total);
        if (ref_obj == NULL || total_obj == NULL)
            goto fail;
    }
    Py_ssize_t start = 0;
    for (int seq = 1; seq <= total; seq++) {
        Py_ssize_t end = p->ends[seq - 1];
        Py_ssize_t udh_len = head_len + (concat == SAR ? 0 : 1) + ies_len;
        PyObject *udh;
        if (udh_len == 0) {
            udh = Py_NewRef(empty_bytes);
        }
        else {
            udh = PyBytes_FromStringAndSize(NULL, udh_len);
            if (udh == NULL)
                goto fail;
            char *u = PyBytes_AS_STRING(udh);
            memcpy(u, head, head_len);
            if (concat != SAR)
                u[head_len] = (char)seq;
            memcpy(u + head_len + (concat == SAR ? 0 : 1), PyBytes_AS_STRING(ies), ies_len);
        }
        PyObject *sar = NULL;
        if (concat == SAR) {
            PyObject *seq_obj = PyLong_FromLong(seq);
            sar = seq_obj ? PyTuple_Pack(3, ref_obj, total_obj, seq_obj) : NULL;
            Py_XDECREF(seq_obj);
            if (sar == NULL) {
                Py_DECREF(udh);
                goto fail;
            }
        }
        PyObject *seg = chunk_segment(dcs, udh, p, start, end, packed, sar);
        if (seg == NULL)
            goto fail;
        PyList_SET_ITEM(list, seq - 1, seg);
        start = end;
    }
    Py_XDECREF(ref_obj);
    Py_XDECREF(total_obj);
    return list;
fail:
    Py_XDECREF(ref_obj);
    Py_XDECREF(total_obj);
    Py_DECREF(list);
    return NULL;
}

/* Buffers for a plan: on the stack when small. */
typedef struct {
    uint8_t small_a[4 * STACK_UNITS];
    uint8_t small_b[4 * STACK_UNITS];
    uint8_t *a, *b;
} Buffers;

static int
buffers_open(Buffers *buf, Py_ssize_t n)
{
    if (n <= STACK_UNITS) {
        buf->a = buf->small_a;
        buf->b = buf->small_b;
        return 0;
    }
    buf->a = PyMem_Malloc(4 * (size_t)n);
    buf->b = PyMem_Malloc(4 * (size_t)n);
    if (buf->a == NULL || buf->b == NULL) {
        PyMem_Free(buf->a);
        PyMem_Free(buf->b);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
buffers_close(Buffers *buf)
{
    if (buf->a != buf->small_a) {
        PyMem_Free(buf->a);
        PyMem_Free(buf->b);
    }
}

PyDoc_STRVAR(encode_doc,
"encode(text, *, concat='udh8', reference=0, packed=False, encoding=None,\n"
"       msg_class=None, national=())\n--\n\n"
"Segments of text ready for SMPP (or, packed, for a modem PDU); see\n"
"gateway.codec.general.encode_python, the reference it equals.");

static PyObject *
native_encode(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Arguments a;
    enum concat concat;
    PyObject *national;
    long gsm7_dcs, ucs2_dcs;
    int forced;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "gateway.codec._native is not configured");
        return NULL;
    }
    if (!read_arguments(args, nargs, kwnames, 1, &a) || !read_concat(a.concat, &concat)
        || (forced = read_encoding(a.encoding)) < 0 || !read_national(a.national, &national)
        || !read_class(a.msg_class, &gsm7_dcs, &ucs2_dcs))
        return reference_call(encode_reference, args, nargsf, kwnames);
    int packed = a.packed != NULL ? PyObject_IsTrue(a.packed) : 0;
    if (packed < 0)
        return NULL;
    Buffers buf;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a.text);
    if (buffers_open(&buf, n) < 0)
        return NULL;
    Plan plan;
    int planned = make_plan(a.text, forced, concat, national, buf.a, buf.b, &plan);
    PyObject *result = NULL;
    if (planned > 0 && plan.count <= MAX_SEGMENTS)
        result = build_segments(&plan, concat, a.reference, packed, gsm7_dcs, ucs2_dcs);
    buffers_close(&buf);
    if (planned < 0)
        return NULL;
    if (planned == 0 || plan.count > MAX_SEGMENTS || result == Py_NotImplemented) {
        Py_XDECREF(result);
        return reference_call(encode_reference, args, nargsf, kwnames);
    }
    return result;
}

PyDoc_STRVAR(analyze_doc,
"analyze(text, *, national=(), encoding=None, concat='udh8')\n--\n\n"
"What a sender sees while typing; see gateway.codec.analysis.analyze_python,\n"
"the reference it equals.");

static PyObject *
native_analyze(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Arguments a;
    enum concat concat;
    PyObject *national;
    int forced;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "gateway.codec._native is not configured");
        return NULL;
    }
    if (!read_arguments(args, nargs, kwnames, 0, &a) || !read_concat(a.concat, &concat)
        || (forced = read_encoding(a.encoding)) < 0 || !read_national(a.national, &national))
        return reference_call(analyze_reference, args, nargsf, kwnames);
    Buffers buf;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a.text);
    if (buffers_open(&buf, n) < 0)
        return NULL;
    Plan p;
    int planned = make_plan(a.text, forced, concat, national, buf.a, buf.b, &p);
    buffers_close(&buf);  /* the counts are all that is needed from here on */
    if (planned < 0)
        return NULL;
    if (planned == 0 || p.count > MAX_SEGMENTS)
        return reference_call(analyze_reference, args, nargsf, kwnames);
    Py_ssize_t last = p.ends[p.count - 1] - (p.count > 1 ? p.ends[p.count - 2] : 0);
    int shift = p.ucs2 ? 1 : 0;
    PyObject *result = analysis_type->tp_alloc(analysis_type, 8);
    if (result == NULL)
        return NULL;
    PyObject *items[8] = {
        Py_NewRef(p.ucs2 ? str_ucs2 : str_gsm7),
        PyLong_FromSsize_t(n),
        PyLong_FromSsize_t(p.size >> shift),
        PyLong_FromLong(p.count),
        PyLong_FromSsize_t((p.capacity - last) >> shift),
        PyLong_FromSsize_t(p.capacity >> shift),
        Py_NewRef(p.table >= 0 ? tables[p.table].locking : Py_None),
        Py_NewRef(p.table >= 0 ? tables[p.table].single : Py_None),
    };
    int failed = 0;
    for (int i = 0; i < 8; i++) {
        if (items[i] == NULL)
            failed = 1;
        PyTuple_SET_ITEM(result, i, items[i]);
    }
    if (failed) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

PyDoc_STRVAR(pack_doc,
"pack(septets, fill_bits)\n--\n\n"
"Septets (one per octet, bit 8 ignored) packed after fill_bits (0-6) zero bits.");

static PyObject *
native_pack(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pack() takes septets and fill_bits");
        return NULL;
    }
    long fill = PyLong_AsLong(args[1]);
    if (fill == -1 && PyErr_Occurred())
        return NULL;
    if (fill < 0 || fill > 6) {
        PyErr_Format(PyExc_ValueError, "fill_bits must be 0-6, not %ld", fill);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = pack((const uint8_t *)view.buf, view.len, (int)fill);
    PyBuffer_Release(&view);
    return out;
}

static void
clear_configuration(void)
{
    for (int i = 0; i < table_count; i++) {
        Py_CLEAR(tables[i].map_owner);
        Py_CLEAR(tables[i].ies);
        Py_CLEAR(tables[i].locking);
        Py_CLEAR(tables[i].single);
    }
    table_count = 0;
    Py_CLEAR(segment_type);
    Py_CLEAR(analysis_type);
    Py_CLEAR(message_class_type);
    Py_CLEAR(encode_reference);
    Py_CLEAR(analyze_reference);
    Py_CLEAR(national_candidates);
    Py_CLEAR(class_codings);
    configured = 0;
}

PyDoc_STRVAR(configure_doc,
"configure(*, segment, analysis, message_class, encode_reference,\n"
"          analyze_reference, tables, national, classes)\n--\n\n"
"Hands over what the C code uses: the Segment and Analysis tuple types, the\n"
"MessageClass enum, the reference functions, the tables (a tuple of\n"
"(map, ies, locking, single): map holds a native uint16 per code point,\n"
"0xFFFF for none, 0x100 | code for an escape pair; the first table is the\n"
"default one), the national candidates (tuple of codes -> tuple of table\n"
"indices) and the class codings (class -> (gsm7 dcs, ucs2 dcs)).");

static PyObject *
native_configure(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"segment", "analysis", "message_class", "encode_reference",
                            "analyze_reference", "tables", "national", "classes", NULL};
    PyObject *segment, *analysis, *message_class, *enc_ref, *ana_ref, *table_list, *national,
        *classes;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$O!O!O!OOO!O!O!:configure", names,
                                     &PyType_Type, &segment, &PyType_Type, &analysis,
                                     &PyType_Type, &message_class, &enc_ref, &ana_ref,
                                     &PyTuple_Type, &table_list, &PyDict_Type, &national,
                                     &PyDict_Type, &classes))
        return NULL;
    PyTypeObject *seg_type = (PyTypeObject *)segment, *ana_type = (PyTypeObject *)analysis;
    if (!PyType_IsSubtype(seg_type, &PyTuple_Type) || !PyType_IsSubtype(ana_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "segment and analysis must be tuple types");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(table_list);
    if (count < 1 || count > MAX_TABLES) {
        PyErr_SetString(PyExc_ValueError, "configure: 1 to 16 tables");
        return NULL;
    }
    clear_configuration();
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *map, *ies, *locking, *single;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(table_list, i), "SSOO:table", &map, &ies,
                              &locking, &single)) {
            clear_configuration();
            return NULL;
        }
        if (PyBytes_GET_SIZE(map) % 2 || PyBytes_GET_SIZE(ies) % 3
            || PyBytes_GET_SIZE(ies) > 6) {
            PyErr_SetString(PyExc_ValueError, "configure: bad table");
            clear_configuration();
            return NULL;
        }
        Table *t = &tables[i];
        t->map_owner = Py_NewRef(map);
        t->map = (const uint16_t *)PyBytes_AS_STRING(map);
        t->map_size = PyBytes_GET_SIZE(map) / 2;
        t->ies = Py_NewRef(ies);
        t->ie_count = (int)(PyBytes_GET_SIZE(ies) / 3);
        t->locking = Py_NewRef(locking);
        t->single = Py_NewRef(single);
        table_count = (int)i + 1;
    }
    segment_type = (PyTypeObject *)Py_NewRef(segment);
    analysis_type = (PyTypeObject *)Py_NewRef(analysis);
    message_class_type = (PyTypeObject *)Py_NewRef(message_class);
    encode_reference = Py_NewRef(enc_ref);
    analyze_reference = Py_NewRef(ana_ref);
    national_candidates = Py_NewRef(national);
    class_codings = Py_NewRef(classes);
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))native_encode, METH_FASTCALL | METH_KEYWORDS,
     encode_doc},
    {"analyze", (PyCFunction)(void (*)(void))native_analyze, METH_FASTCALL | METH_KEYWORDS,
     analyze_doc},
    {"pack", (PyCFunction)(void (*)(void))native_pack, METH_FASTCALL, pack_doc},
    {"configure", (PyCFunction)(void (*)(void))native_configure, METH_VARARGS | METH_KEYWORDS,
     configure_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "gateway.codec._native",
    "The codec's hot path in C; configured and wrapped by gateway.codec.native.", -1, methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(str_gsm7, "gsm7");
    INTERN(str_ucs2, "ucs2");
    INTERN(str_udh8, "udh8");
    INTERN(str_udh16, "udh16");
    INTERN(str_sar, "sar");
    INTERN(str_payload, "payload");
    INTERN(kw_concat, "concat");
    INTERN(kw_reference, "reference");
    INTERN(kw_packed, "packed");
    INTERN(kw_encoding, "encoding");
    INTERN(kw_msg_class, "msg_class");
    INTERN(kw_national, "national");
#undef INTERN
    if ((empty_bytes = PyBytes_FromStringAndSize("", 0)) == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
