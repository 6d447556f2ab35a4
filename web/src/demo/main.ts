// The demo site (/): a sample shop page, static HTML in web/index.html; this module brings its styles.
// The chat widget on it is the same /widget.js any site embeds.
import "./demo.css";
