"""Redemption (积分兑换 / 爱心超市): desks, their catalogue and stock, redemptions and reservations."""
