/* svg.c: see svg.h. Fixed geometry; the browser scales the viewBox. */
#include "svg.h"

#include "escape.h"

void svg_bars(strbuf *out, const char *title, const uint64_t *values, size_t n,
              const char *first_label, const char *last_label)
{
    enum { W = 600, H = 140, TOP = 16, BOTTOM = 18 };
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = values[i] > max ? values[i] : max;
    strbuf_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", W, H);
    html_puts(out, title);
    strbuf_puts(out, "\"><title>");
    html_puts(out, title);
    strbuf_puts(out, "</title>");
    strbuf_printf(out, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>", H - BOTTOM,
                  W, H - BOTTOM);
    double slot = n ? (double)W / (double)n : W;
    for (size_t i = 0; i < n && max > 0; i++) {
        double h = (double)values[i] / (double)max * (H - TOP - BOTTOM);
        strbuf_printf(out,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bar\">"
                      "<title>%llu</title></rect>",
                      (double)i * slot + 0.5, (double)(H - BOTTOM) - h,
                      slot > 2 ? slot - 1 : slot, h, (unsigned long long)values[i]);
    }
    strbuf_printf(out, "<text x=\"2\" y=\"12\" class=\"label\">max %llu</text>",
                  (unsigned long long)max);
    strbuf_printf(out, "<text x=\"2\" y=\"%d\" class=\"label\">", H - 4);
    html_puts(out, first_label);
    strbuf_printf(out, "</text><text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"end\">",
                  W - 2, H - 4);
    html_puts(out, last_label);
    strbuf_puts(out, "</text></svg>");
}

void svg_hbars(strbuf *out, const char *title, const char *const *labels,
               const uint64_t *values, size_t n)
{
    enum { W = 600, ROW = 18, LABEL = 190 };
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = values[i] > max ? values[i] : max;
    size_t h = n ? n * ROW + 4 : ROW;
    strbuf_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %zu\" role=\"img\" aria-label=\"", W, h);
    html_puts(out, title);
    strbuf_puts(out, "\"><title>");
    html_puts(out, title);
    strbuf_puts(out, "</title>");
    if (n == 0)
        strbuf_puts(out, "<text x=\"2\" y=\"13\" class=\"label\">no events</text>");
    for (size_t i = 0; i < n; i++) {
        double w = max ? (double)values[i] / (double)max * (W - LABEL - 70) : 0;
        strbuf_printf(out, "<text x=\"%d\" y=\"%zu\" class=\"label\" text-anchor=\"end\">",
                      LABEL - 6, i * ROW + 13);
        html_puts(out, labels[i]);
        strbuf_printf(out, "</text><rect x=\"%d\" y=\"%zu\" width=\"%.1f\" height=\"%d\" class=\"bar\"/>"
                           "<text x=\"%.1f\" y=\"%zu\" class=\"label\">%llu</text>",
                      LABEL, i * ROW + 2, w, ROW - 4, LABEL + w + 4, i * ROW + 13,
                      (unsigned long long)values[i]);
    }
    strbuf_puts(out, "</svg>");
}
