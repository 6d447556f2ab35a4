// The customer widget's entry point (built as /widget.js).
export {};
