<?php
// Never run by PHP: requests for t/htdocs/mbh/*.php go to fcgi-misbehave,
// which picks its scenario from the file name:
// "close-now", reads the request and closes without a byte.
// The file exists so that a handler checking for a real script lets the
// request through.
