import { render } from 'preact';
import 'diff2html/bundles/css/diff2html.min.css';
import './style.css';
import { App } from './app.js';
import { locale } from './i18n.js';

document.documentElement.lang = locale;
render(<App />, document.getElementById('app')!);
