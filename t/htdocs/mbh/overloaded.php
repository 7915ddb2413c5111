<?php
// Never run by PHP: requests for t/htdocs/mbh/*.php go to fcgi-misbehave,
// which picks its scenario from the file name:
// "overloaded", answers with END_REQUEST FCGI_OVERLOADED only.
// The file exists so that a handler checking for a real script lets the
// request through.
