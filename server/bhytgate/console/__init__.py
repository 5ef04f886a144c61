"""The BHXH officers' console: a small web application served by the gateway behind the same
terminal authentication (mTLS, reviewer or admin certificates). It only translates: the review
queue, reconciliation and the dashboards are the service layer's; the console renders them."""
